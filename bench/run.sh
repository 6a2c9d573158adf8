#!/usr/bin/env bash
# Reproducible HTTP benchmark of zdrav (SQLite and PostgreSQL) and of the peer Helios FHIR Server
# (crate `helios-hfs`), on the same synthetic patients, in one run.
#
#   bash bench/run.sh [DATA_DIR]        # default: ../shared/data/synthetic
#
# For each server: start it on a fresh database, ingest every transaction bundle over HTTP
# (2 bundles in flight), read by id (16 clients, 10 s), run the search mix, record resident
# memory. zdrav on SQLite then ingests the data MEMORY_PASSES more times (each POST creates new
# resources) and reports resident memory at that volume. A table with the ratios is printed at
# the end and written to bench/out/table.md; copy it into bench/RESULTS.md.
#
# Environment: SKIP_HELIOS=1, SKIP_POSTGRES=1, MEMORY_PASSES (default 3),
# PG_URL (default postgres://postgres@127.0.0.1:5432), HELIOS_VERSION (default 0.2.7).
# Helios is installed with `cargo install helios-hfs` into bench/.tools (not committed); none of
# its code is copied here.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/synthetic}
OUT=bench/out
mkdir -p "$OUT"
PORT=${PORT:-18080}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
MEMORY_PASSES=${MEMORY_PASSES:-3}
HELIOS_VERSION=${HELIOS_VERSION:-0.2.7}
HELIOS_ROOT=${HELIOS_ROOT:-bench/.tools/helios-$HELIOS_VERSION}

cargo build --release -p zdrav -p zdrav-bench
BIN=target/release/zdrav
DRV=target/release/zdrav-bench
if [ -z "${SKIP_HELIOS:-}" ] && [ ! -x "$HELIOS_ROOT/bin/hfs" ]; then
  echo "== installing helios-hfs $HELIOS_VERSION (cargo install; takes a while the first time)"
  cargo install helios-hfs --version "$HELIOS_VERSION" --locked --root "$HELIOS_ROOT"
fi

rss_mb() { echo $(( $(awk '{print $2}' "/proc/$1/statm") * 4 / 1024 )); }

wait_up() {
  for _ in $(seq 300); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "server at $1 did not come up" >&2
  return 1
}

# measure NAME BASE PID: the common measurements, RESULT lines into $OUT/NAME.results
measure() {
  local name=$1 base=$2 pid=$3 res="$OUT/$1.results"
  : > "$res"
  echo "== $name: ingest"
  $DRV ingest --base "$base" --dir "$DATA" --concurrency 2 | tee -a "$res"
  echo "RESULT rss_after_ingest $(rss_mb "$pid")" | tee -a "$res"
  if [ -n "${MEASURE_AFTER_INGEST:-}" ]; then $MEASURE_AFTER_INGEST; fi
  echo "== $name: read by id"
  $DRV read --base "$base" --rtype Observation --ids 2000 --seconds 10 --concurrency 16 | tee -a "$res"
  echo "== $name: search mix"
  $DRV query --base "$base" --name q_token --path "Observation?code=http://loinc.org|8867-4&_count=50" --n 300 | tee -a "$res"
  $DRV query --base "$base" --name q_date --path "Observation?date=ge2015-01-01&date=lt2016-01-01&_count=50" --n 300 | tee -a "$res"
  $DRV query --base "$base" --name q_string --path "Patient?name=Markus" --n 300 | tee -a "$res"
  $DRV query --base "$base" --name q_chain --path "Observation?subject:Patient.name=Markus&_count=50" --n 200 | tee -a "$res"
  $DRV query --base "$base" --name q_revinclude --path "Patient?_revinclude=Encounter:subject&_count=5" --n 100 | tee -a "$res"
  echo "RESULT rss_end $(rss_mb "$pid")" | tee -a "$res"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -sr)"
echo "== zdrav $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
rm -f "$OUT"/*.results

# ---- zdrav on SQLite (then the memory run) ----
DB="$OUT/zdrav.db"
rm -f "$DB" "$DB-wal" "$DB-shm"
$BIN serve --listen 127.0.0.1:$PORT --database "sqlite://$DB" --no-auth 2>"$OUT/zdrav-sqlite.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
wait_up "http://127.0.0.1:$PORT/health"
measure zdrav-sqlite "http://127.0.0.1:$PORT/fhir" $PID
if [ "$MEMORY_PASSES" -gt 0 ]; then
  echo "== zdrav-sqlite: $MEMORY_PASSES more passes for the memory figure"
  $DRV ingest --base "http://127.0.0.1:$PORT/fhir" --dir "$DATA" --concurrency 2 --repeat "$MEMORY_PASSES" | tee "$OUT/memory.txt"
  TOTAL=$(curl -s "http://127.0.0.1:$PORT/fhir/?_summary=count" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("total","?"))')
  echo "RESULT resources_total $TOTAL" | tee -a "$OUT/zdrav-sqlite.results"
  echo "RESULT rss_at_total $(rss_mb $PID)" | tee -a "$OUT/zdrav-sqlite.results"
fi
stop $PID

# ---- zdrav on PostgreSQL ----
if [ -z "${SKIP_POSTGRES:-}" ]; then
  PGDB=zdrav_bench
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" -c "CREATE DATABASE $PGDB"
  $BIN serve --listen 127.0.0.1:$PORT --database "$PG_URL/$PGDB" --no-auth 2>"$OUT/zdrav-postgres.log" &
  PID=$!
  wait_up "http://127.0.0.1:$PORT/health"
  # No manual ANALYZE: the store analyses its tables itself after bulk writes.
  measure zdrav-postgres "http://127.0.0.1:$PORT/fhir" $PID
  stop $PID
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)"
fi

# ---- Helios on SQLite ----
if [ -z "${SKIP_HELIOS:-}" ]; then
  HDB="$OUT/helios.db"
  rm -f "$HDB" "$HDB-wal" "$HDB-shm"
  "$HELIOS_ROOT/bin/hfs" --port $PORT --database-url "$HDB" --log-level warn --request-timeout 600 --base-url "http://127.0.0.1:$PORT" >"$OUT/helios.log" 2>&1 &
  PID=$!
  wait_up "http://127.0.0.1:$PORT/metadata"
  measure helios "http://127.0.0.1:$PORT" $PID
  stop $PID
fi
trap - EXIT

python3 bench/table.py "$OUT" | tee "$OUT/table.md"
