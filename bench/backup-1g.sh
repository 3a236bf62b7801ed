#!/usr/bin/env bash
# Backup + verify of a ~1 GB database, and a restore drill's RTO, each timed
# in its own process (wall time and peak memory).
# Usage: bench/backup-1g.sh [EVENTS]   (default 1,800,000 events ≈ 1 GB of
# SQLite in target/bench-data/backup; set PEBBLE_DATABASE_URL to run against
# PostgreSQL instead; PROFILE=debug uses the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1800000}
dir=$PWD/target/bench-data/backup
mkdir -p "$dir"
export PEBBLE_DATA_DIR=$dir
export PEBBLE_DATABASE_URL=${PEBBLE_DATABASE_URL:-sqlite://$dir/pebble.db}
export PEBBLE_LOG=warn
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin pebble --example seed_activity
else
  cargo build --quiet --bin pebble --example seed_activity
fi
bin=target/$profile
$bin/examples/seed_activity "$PEBBLE_DATABASE_URL" "$n"
[ -f "$dir/pebble.db" ] && ls -l "$dir/pebble.db"
rm -rf "$dir/backups"
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label: %e s, peak RSS %M KiB" "$@"
}
measure "backup create" $bin/pebble backup create --json >"$dir/created.json"
file=$(sed -n 's/.*"file":"\([^"]*\)".*/\1/p' "$dir/created.json")
ls -l "$file"
measure "backup verify" $bin/pebble backup verify "$file"
measure "dr drill" $bin/pebble dr drill --json
