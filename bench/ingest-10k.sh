#!/usr/bin/env bash
# mbox import of 10,000 realistic emails into a fresh SQLite database
# (parse + store + event, before classification): wall time, emails/s and
# peak RSS. Usage: bench/ingest-10k.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 bench/make-mbox.py "$n" "$work/bench.mbox"
echo "mbox: $(du -h "$work/bench.mbox" | cut -f1) for $n messages"
cargo build --release -q
export PEBBLE_DATA_DIR="$work/data"
./target/release/pebble db migrate >/dev/null
# The import syncs the file system per batch; flush the generator's writes
# first so they are not billed to the import.
sync
start=$(date +%s.%N)
/usr/bin/time -v ./target/release/pebble import mbox "$work/bench.mbox" --stream sales --json \
  2> "$work/time.txt"
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc -l)
rss=$(grep "Maximum resident" "$work/time.txt" | awk '{print $NF}')
printf 'wall %.2f s, %.0f emails/s, peak RSS %d MiB\n' "$secs" "$(echo "$n / $secs" | bc -l)" $((rss / 1024))
