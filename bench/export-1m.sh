#!/usr/bin/env bash
# Time and peak memory of exporting 1,000,000 activity events as CSV and XLSX,
# and of verifying the chain, each in its own process.
# Usage: bench/export-1m.sh [N]   (SQLite in target/bench-data; set
# PEBBLE_DATABASE_URL to run against PostgreSQL instead)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
dir=target/bench-data/export
mkdir -p "$dir"
export PEBBLE_DATA_DIR=$dir
export PEBBLE_DATABASE_URL=${PEBBLE_DATABASE_URL:-sqlite://$PWD/$dir/pebble.db}
cargo build --release --quiet --bin pebble --example seed_activity
target/release/examples/seed_activity "$PEBBLE_DATABASE_URL" "$n"
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label: %e s, peak RSS %M KiB" "$@" >/dev/null
}
measure "verify $n" target/release/pebble audit verify
measure "csv $n" target/release/pebble audit export --format csv --out "$dir/out.csv"
measure "xlsx $n" target/release/pebble audit export --format xlsx --out "$dir/out.xlsx"
ls -l "$dir"/out.*
