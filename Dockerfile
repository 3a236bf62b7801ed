# syntax=docker/dockerfile:1
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin pebble

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/pebble --create-home pebble
COPY --from=build /src/target/release/pebble /usr/local/bin/pebble
USER pebble
WORKDIR /var/lib/pebble
ENV PEBBLE_DATA_DIR=/var/lib/pebble/data \
    PEBBLE_BIND=0.0.0.0:8080 \
    PEBBLE_METRICS_BIND=0.0.0.0:9464
EXPOSE 8080 9464
HEALTHCHECK CMD ["pebble", "--version"]
ENTRYPOINT ["pebble"]
CMD ["serve"]
