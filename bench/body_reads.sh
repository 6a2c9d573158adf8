#!/usr/bin/env bash
# Reads of one large registered document body: the server's peak memory and the throughput
# while CLIENTS clients download it ROUNDS times each, in native form and as FHIR JSON.
# The body is registered first (two GOST signatures, bench/remd_fixture.sh), then the server is
# restarted, so that its peak resident size (VmHWM) counts the reads alone.
# With PG=1 the store is a fresh PostgreSQL database (127.0.0.1:5432, user postgres), dropped
# at the end. Usage: bench/body_reads.sh ZDRAV_BIN ZDRAV_BENCH_BIN [MIB=30] [CLIENTS=8] [ROUNDS=4]
set -euo pipefail
bin="$(realpath "$1")"; bench="$(realpath "$2")"
mib="${3:-30}"; clients="${4:-8}"; rounds="${5:-4}"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d)"
addr=127.0.0.1:18083
base="http://$addr/fhir"
database="sqlite://$dir/z.db"
if [ -n "${PG:-}" ]; then
  db="zdrav_body_reads_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
  database="postgres://postgres@127.0.0.1:5432/$db"
fi
cleanup() {
  kill "${pid:-0}" 2>/dev/null || true; wait "${pid:-0}" 2>/dev/null || true; rm -rf "$dir"
  if [ -n "${db:-}" ]; then psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db" postgres; fi
}
trap cleanup EXIT

start() {
  "$bin" serve --listen "$addr" --database "$database" --no-auth >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://$addr/health" >/dev/null && return; sleep 0.1; done
  echo "the server did not start" >&2; cat "$dir/log" >&2; exit 1
}

BODY_BYTES=$((mib * 1024 * 1024)) bash "$here/remd_fixture.sh" "$dir/fix" >/dev/null
start
"$bench" remd --base "$base" --dir "$dir/fix" --n 1 --concurrency 1 >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true
start
url="$base/Binary/bench-doc-0-body"
curl -sf -H 'accept: application/pdf' "$url" | cmp - "$dir/fix/body.txt"
idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
for accept in application/pdf application/fhir+json; do
  t0=$(date +%s.%N)
  seq $((clients * rounds)) | xargs -P "$clients" -I{} \
    curl -sf -o /dev/null -H "accept: $accept" "$url"
  t1=$(date +%s.%N)
  awk -v a="$accept" -v n=$((clients * rounds)) -v mib="$mib" -v t0="$t0" -v t1="$t1" \
    'BEGIN { printf "%-22s %3d reads of %d MiB in %.2f s: %.0f MiB/s\n", a, n, mib, t1 - t0, n * mib / (t1 - t0) }'
done
awk -v idle="$idle" '/VmHWM/ { printf "server resident: %d MiB idle, peak %d MiB\n", idle / 1024, $2 / 1024 }' "/proc/$pid/status"
