#!/usr/bin/env bash
# Property-based fuzzing of the HTTP API with schemathesis, driven by the
# OpenAPI document Pebble generates: a throwaway server on a temporary SQLite
# database, rate limits off, signed in as an administrator (every route
# reachable). Goal: no 5xx and no response that violates its schema.
# Usage: scripts/api-fuzz.sh [MAX_EXAMPLES]   (needs: pip install schemathesis)
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-100}
[ $# -gt 0 ] && shift
command -v st >/dev/null || python3 -m pip install -q schemathesis
cargo build --quiet --bin pebble
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password="fuzz-admin-password-$$"
PEBBLE_DATA_DIR=$dir PEBBLE_BIND=127.0.0.1:$port PEBBLE_METRICS_BIND=127.0.0.1:0 \
PEBBLE_ADMIN_PASSWORD=$password PEBBLE_RATE_LIMIT_PER_MINUTE=0 PEBBLE_LOGIN_RATE_LIMIT_PER_MINUTE=0 \
PEBBLE_LOGIN_FAILURES_PER_HOUR=0 PEBBLE_LOG=warn target/debug/pebble serve 2>"$dir/server.log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
token=$(curl -sf "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"admin@pebble.local\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# The logout route would end the fuzzing session; everything else is fair game.
st run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --url "http://127.0.0.1:$port" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --exclude-path /api/v1/auth/logout \
  --max-examples "$examples" \
  --seed 1 "$@" || status=$?
echo "server errors logged: $(grep -c '"level":"ERROR"' "$dir/server.log" || true)"
exit "${status:-0}"
