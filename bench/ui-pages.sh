#!/usr/bin/env bash
# Server time of the web UI's dashboards (and home and leads) with N emails of
# history in the database: p50/p95/p99 over R sequential requests each.
# Usage: bench/ui-pages.sh [N] [R]   (SQLite in target/bench-data/ui; set
# PEBBLE_DATABASE_URL to run against PostgreSQL instead)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
r=${2:-200}
dir=target/bench-data/ui
mkdir -p "$dir"
export PEBBLE_DATA_DIR=$dir
url=${PEBBLE_DATABASE_URL:-sqlite://$PWD/$dir/pebble.db}
cargo build --release --quiet --example ui_bench
target/release/examples/ui_bench "$url" "$n" "$r"
