#!/usr/bin/env bash
# Reproducible HTTP benchmark of zdrav (and, when present, a peer) on the synthetic patients.
#
#   bash bench/run.sh [DATA_DIR]        # default: ../shared/data/synthetic
#
# Starts `zdrav serve` on a fresh SQLite database, ingests every transaction bundle over HTTP,
# then measures read-by-id throughput and search latency with bench/driver (zdrav-bench).
# Results are printed; copy them into bench/RESULTS.md with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/synthetic}
OUT=bench/out
mkdir -p "$OUT"
cargo build --release -p zdrav -p zdrav-bench
BIN=target/release/zdrav
DRV=target/release/zdrav-bench
PORT=${PORT:-18080}
DB="$OUT/bench.db"
rm -f "$DB" "$DB-wal" "$DB-shm"

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -sr)"
echo "== zdrav $(git rev-parse --short HEAD 2>/dev/null || echo unknown), SQLite"
$BIN serve --listen 127.0.0.1:$PORT --database "sqlite://$DB" --no-auth 2>"$OUT/zdrav.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT/fhir"

$DRV ingest --base "$BASE" --dir "$DATA" --concurrency 2
echo "resident memory after ingest: $(( $(awk '{print $2}' /proc/$PID/statm) * 4 / 1024 )) MB"
$DRV read --base "$BASE" --rtype Observation --ids 2000 --seconds 10 --concurrency 16
$DRV query --base "$BASE" --path "Observation?code=http://loinc.org|8867-4&_count=50" --n 300
$DRV query --base "$BASE" --path "Observation?date=ge2015-01-01&date=lt2016-01-01&_count=50" --n 300
$DRV query --base "$BASE" --path "Observation?subject:Patient.name=Markus&_count=50" --n 200
$DRV query --base "$BASE" --path "Patient?_revinclude=Encounter:subject&_count=5" --n 100
echo "resident memory at the end: $(( $(awk '{print $2}' /proc/$PID/statm) * 4 / 1024 )) MB"
