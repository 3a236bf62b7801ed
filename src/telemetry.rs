//! Structured JSON logs (one line per event, Loki-friendly) with the level
//! filter from settings, and two optional exports beside them: `ERROR` events
//! and panics to Sentry (`sentry_dsn`), spans as OpenTelemetry traces over
//! OTLP/HTTP (`otlp_endpoint`). Bodies and secrets never reach any of them:
//! spans are built from the matched route and request id only.

use std::collections::BTreeMap;
use std::str::FromStr;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use secrecy::ExposeSecret;
use sentry_tracing::{EventMapping, SentryLayer};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::config::Settings;

/// The name traces carry as `service.name`.
const SERVICE_NAME: &str = "pebble";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("sentry_dsn is not a valid Sentry DSN")]
    SentryDsn(#[from] sentry::types::ParseDsnError),
    #[error("otlp_endpoint: cannot build the trace exporter")]
    Otlp(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// What must outlive the subscriber: dropping it flushes the Sentry queue and
/// shuts the trace pipeline down, exporting the spans still batched.
#[must_use = "dropping it ends Sentry reporting and trace export"]
pub struct Telemetry {
    /// Held only to be dropped: its drop flushes and closes the client.
    _sentry: Option<sentry::ClientInitGuard>,
    traces: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Traces first, so that a failed last export is still logged and
        // reported: the Sentry guard, a field, is dropped after this body and
        // flushes its own queue (within its shutdown timeout).
        if let Some(provider) = self.traces.take() {
            if let Err(e) = provider.shutdown() {
                tracing::error!(error = %e, "flushing traces at exit failed");
            }
        }
    }
}

/// Install the global subscriber built from `settings`. Keep the returned
/// value alive for as long as the process logs.
pub fn init(settings: &Settings) -> Result<Telemetry, TelemetryError> {
    let (subscriber, telemetry) = subscriber(settings)?;
    subscriber.try_init()?;
    Ok(telemetry)
}

/// The subscriber `init` installs, without installing it, so a test can scope
/// it with `tracing::subscriber::set_default`.
pub fn subscriber(
    settings: &Settings,
) -> Result<(impl Subscriber + Send + Sync, Telemetry), TelemetryError> {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let sentry = match non_empty(settings.sentry_dsn.as_ref().map(|d| d.expose_secret())) {
        Some(dsn) => Some(sentry_client(dsn)?),
        None => None,
    };
    let traces = match non_empty(settings.otlp_endpoint.as_deref()) {
        Some(endpoint) => Some(tracer_provider(endpoint)?),
        None => None,
    };
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(
            fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr),
        )
        .with(sentry.as_ref().map(|_| sentry_layer()))
        .with(traces.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(SERVICE_NAME))
                .with_filter(not_the_exporters_own_transport())
        }));
    Ok((
        subscriber,
        Telemetry {
            _sentry: sentry,
            traces,
        },
    ))
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// `init` runs on the main thread, so the client is bound to the
/// process-wide hub that every runtime thread's hub starts from.
fn sentry_client(dsn: &str) -> Result<sentry::ClientInitGuard, TelemetryError> {
    let dsn = sentry::types::Dsn::from_str(dsn)?;
    Ok(sentry::init(sentry::ClientOptions {
        dsn: Some(dsn),
        release: sentry::release_name!(),
        // No IP addresses, user names or request data: Pebble holds
        // customers' mail, and Sentry is a third party.
        send_default_pii: false,
        ..Default::default()
    }))
}

/// `ERROR` events become Sentry events and `WARN`/`INFO` ones breadcrumbs,
/// as sentry-tracing does by default. Its own span tracking is off: it keeps
/// the current span in the hub's scope, which async requests interleaved on
/// one thread leave pointing at another request (an error in one request
/// was reported with the route and request id of an earlier login). The
/// fields of the event's enclosing tracing span (route, request id, user id)
/// become the event's tags instead, as they appear in the JSON log's `span`.
fn sentry_layer<S>() -> SentryLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    sentry_tracing::layer()
        .span_filter(|_| false)
        .event_mapper(|event, ctx| match *event.metadata().level() {
            Level::ERROR => {
                let mut report = sentry_tracing::event_from_event(event, &ctx);
                report.tags.extend(enclosing_span_fields(event, &ctx));
                EventMapping::Event(report)
            }
            Level::WARN | Level::INFO => {
                EventMapping::Breadcrumb(sentry_tracing::breadcrumb_from_event(event, &ctx))
            }
            _ => EventMapping::Ignore,
        })
}

/// The fields of the event's span, read from where the JSON log layer keeps
/// them (the span's extensions, updated by later `record`s such as `user_id`).
fn enclosing_span_fields<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> BTreeMap<String, String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.event_span(event) else {
        return BTreeMap::new();
    };
    let extensions = span.extensions();
    let Some(recorded) = extensions.get::<FormattedFields<JsonFields>>() else {
        return BTreeMap::new();
    };
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&recorded.fields)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(s) => (name, s),
            other => (name, other.to_string()),
        })
        .collect()
}

/// Spans are batched and posted as protobuf to `{endpoint}/v1/traces` (the
/// OTLP/HTTP signal path, as `OTEL_EXPORTER_OTLP_ENDPOINT` would be read).
fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .build())
}

/// The exporter's HTTP client is itself instrumented: under a `debug` filter
/// its spans would be exported, each export causing the next one.
fn not_the_exporters_own_transport() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        // Targets match by prefix: `hyper` covers `hyper_util`, and
        // `opentelemetry` the SDK, exporter and HTTP crates.
        .with_target("hyper", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF)
}
