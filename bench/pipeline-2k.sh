#!/usr/bin/env bash
# End-to-end pipeline throughput (ingest → draft) on a fresh SQLite database
# beside the Tally simulator on the demo catalogue: N generated emails
# imported, then `pebble pipeline run` drains classify → extract → link →
# enrich (live Tally lookups) → draft. Prints wall time, emails/s and peak
# RSS of the import and of the pipeline run.
# Usage: bench/pipeline-2k.sh [N | path/to/mailbox.mbox]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
sim_pid=
trap '[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; rm -rf "$work"' EXIT
arg=${1:-2000}
if [ -f "$arg" ]; then
  cp "$arg" "$work/bench.mbox"
else
  python3 bench/make-mbox.py "$arg" "$work/bench.mbox"
fi
cargo build --release -q
pebble="${CARGO_TARGET_DIR:-target}/release/pebble"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$pebble" tally-sim --catalog data/demo/catalog.json --port "$port" >"$work/sim.log" 2>&1 &
sim_pid=$!
export PEBBLE_DATA_DIR="$work/data" PEBBLE_TALLY_URL="http://127.0.0.1:$port" PEBBLE_LOG=warn
"$pebble" db migrate >/dev/null
for _ in $(seq 50); do "$pebble" tally ping >/dev/null 2>&1 && break; sleep 0.1; done
"$pebble" tally sync --full >/dev/null
sync

measure() { # label, then the command
  local label=$1; shift
  local start end secs rss
  start=$(date +%s.%N)
  /usr/bin/time -v "$@" >"$work/$label.out" 2>"$work/$label.time"
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc -l)
  rss=$(grep "Maximum resident" "$work/$label.time" | awk '{print $NF}')
  echo "$secs $rss"
}

read -r isecs irss < <(measure import "$pebble" import mbox "$work/bench.mbox" --stream sales --json)
n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["imported"])' "$work/import.out")
read -r psecs prss < <(measure pipeline "$pebble" pipeline run)
jobs=$(wc -l <"$work/pipeline.out")
ok=$(grep -c '"outcome":"ok"' "$work/pipeline.out" || true)
drafts=$(grep '"step":"draft"' "$work/pipeline.out" | grep -c '"note":"draft ' || true)
lookups=$(grep '"step":"enrich"' "$work/pipeline.out" | grep -o '[0-9]* live' | awk '{s+=$1} END {print s+0}')
printf 'import:   %d emails in %.2f s, %.0f emails/s, peak RSS %d MiB\n' "$n" "$isecs" "$(echo "$n / $isecs" | bc -l)" $((irss / 1024))
printf 'pipeline: %d jobs (%d ok) in %.2f s, %.0f emails/s, peak RSS %d MiB; %d drafts, %d live stock answers\n' \
  "$jobs" "$ok" "$psecs" "$(echo "$n / $psecs" | bc -l)" $((prss / 1024)) "$drafts" "$lookups"
printf 'ingest → draft: %.0f emails/s\n' "$(echo "$n / ($isecs + $psecs)" | bc -l)"
