#!/usr/bin/env bash
# Switchboard's load benchmark (SPEC §15), end to end and reproducible.
#
# Usage:
#   bench/run.sh                 # SQLite, then PostgreSQL
#   bench/run.sh sqlite          # one database only (or: postgres)
#
# Per database it: builds `switchboard` and `loadgen` (release); makes a fresh database (a temp
# SQLite file, or a new PostgreSQL database created with psql) and migrates it; runs
# `loadgen baseline` (the ingest path's inserts straight against the database, one webhook per
# transaction — before the server starts, so no worker competes); starts `switchboard serve`
# and creates a secret key for the `default` tenant; on PostgreSQL fills the tables with a short
# unrecorded run (so that plans are made from statistics, as on a live database); runs
# `loadgen run` at each rate in RATES,
# then flat out (`--rate max`), each with the server's pid (memory) and the baseline (ratio);
# stops the server; and writes everything to bench/results/<date>-<db>.json. Each run's table
# is printed as it finishes. Before each run it waits for the server to finish the previous
# run's jobs and, on PostgreSQL, runs VACUUM ANALYZE (as autovacuum would).
# Each report carries the CPU used during the measured phase by the server, loadgen
# (with its sandbox), PostgreSQL and everything else: a large "other" means something unrelated
# ran on the machine and the numbers are noisy. A run whose verification finds a missing or
# duplicated effect (at `max`, usually effects still queued when the drain ends) makes the
# script exit non-zero, after the remaining runs.
#
# Environment (defaults):
#   RATES="200 500"  DURATION=20s  WARMUP=3s  DRAIN=60s  CONCURRENCY=64 (flat-out senders)
#   SIGN=rsa (or hmac)  BASELINE_DURATION=10s  BASELINE_CONCURRENCY=32
#   PG_ADMIN_URL=postgres://postgres@127.0.0.1:5432   (psql -h 127.0.0.1 -U postgres)
#   PORT=8077  KEEP_DB=0 (1 keeps the PostgreSQL database and the SQLite folder)
#   CARGO_TARGET_DIR=<cargo's default>  SWITCHBOARD_*: passed through to the server
# Needs: cargo, curl, jq, psql (for PostgreSQL). The load generator runs on the
# same machine as the server and the database, as SPEC §15 prescribes.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
RATES=${RATES:-"200 500"}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
DRAIN=${DRAIN:-60s}
CONCURRENCY=${CONCURRENCY:-64}
SIGN=${SIGN:-rsa}
BASELINE_DURATION=${BASELINE_DURATION:-10s}
BASELINE_CONCURRENCY=${BASELINE_CONCURRENCY:-32}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-8077}
KEEP_DB=${KEEP_DB:-0}
DATE=$(date -u +%Y%m%d-%H%M%S)
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"

echo "== building (release)"
cargo build --release -p switchboard -p loadgen
TARGET_DIR=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)}
SWITCHBOARD="$TARGET_DIR/release/switchboard"
LOADGEN="$TARGET_DIR/release/loadgen"

SERVER_PID=""
WORK=""
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

wait_ready() {
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "the server exited; see $WORK/server.log" >&2; return 1; fi
    sleep 0.1
  done
  echo "the server did not become ready; see $WORK/server.log" >&2
  return 1
}

# Waits (up to 5 min) until the tenant has no queued or running job: a run must not start while
# the server still works off the previous one's backlog.
settle() {
  local key=$1
  for _ in $(seq 1 600); do
    local busy=0
    for state in queued running; do
      local n
      n=$(curl -fsS -H "Authorization: Bearer $key" "http://127.0.0.1:$PORT/api/v1/jobs?state=$state&limit=1" |
        jq '.data | length') || n=1
      busy=$((busy + n))
    done
    [[ $busy -eq 0 ]] && return 0
    sleep 0.5
  done
  echo "!! the server still has jobs after 5 minutes; starting anyway" >&2
}

FAILED=0
bench_one() {
  local db=$1 url label
  WORK=$(mktemp -d "/tmp/switchboard-bench-$db-XXXXXX")
  case "$db" in
    sqlite)
      url="sqlite:$WORK/switchboard.db"
      label="sqlite (WAL, synchronous=FULL)"
      ;;
    postgres)
      local name="switchboard_bench_${DATE//-/_}"
      psql "$PG_ADMIN_URL/postgres" -qAtc "CREATE DATABASE $name" >/dev/null
      url="$PG_ADMIN_URL/$name"
      label="postgresql $(psql "$url" -qAtc 'SHOW server_version') (fsync $(psql "$url" -qAtc 'SHOW fsync'))"
      ;;
    *) echo "unknown database '$db' (sqlite or postgres)" >&2; return 2 ;;
  esac
  echo "== $label"
  export DATABASE_URL="$url" SWITCHBOARD_DATA_DIR="$WORK" SWITCHBOARD_ADDR="127.0.0.1:$PORT" \
    SWITCHBOARD_SANDBOX=off SWITCHBOARD_LOG_FORMAT=json RUST_LOG=${RUST_LOG:-warn} \
    SWITCHBOARD_MASTER_KEY=${SWITCHBOARD_MASTER_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  "$SWITCHBOARD" migrate

  echo "-- baseline: $BASELINE_CONCURRENCY tasks, $BASELINE_DURATION"
  "$LOADGEN" baseline --database-url "$url" --duration "$BASELINE_DURATION" \
    --concurrency "$BASELINE_CONCURRENCY" --db-label "$label" --json "$WORK/baseline.json"

  "$SWITCHBOARD" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  wait_ready
  local key
  key=$("$SWITCHBOARD" apikey create --tenant default --kind secret 2>/dev/null | tail -n 1)

  if [[ "$db" == postgres ]]; then
    # A new database has no statistics: PostgreSQL plans for empty tables (a tenant-wide index
    # walked where one row is wanted) until its first ANALYZE of filled tables, which a live
    # database had long ago (autovacuum). A short run, not recorded, fills the tables first; the
    # VACUUM ANALYZE before each measured run then gives the plans a live database has.
    echo "-- warm-up (not recorded): 200/s, 5s"
    "$LOADGEN" run --target "http://127.0.0.1:$PORT/" --key "$key" --rate 200 --duration 5s --warmup 1s \
      --drain "$DRAIN" --sign "$SIGN" >"$WORK/warm-up.txt" 2>&1 || echo "!! warm-up: loadgen exited with $?" >&2
  fi

  local runs=()
  for rate in $RATES max; do
    settle "$key"
    # What autovacuum does on a live database, done here because it may be off (it is on this
    # project's CI machine): dead rows (the baseline's deleted tenant, the previous run's
    # finished jobs) cleared from tables and indexes, and fresh statistics — without them
    # PostgreSQL plans for the empty tables a new database starts with.
    if [[ "$db" == postgres ]]; then psql "$url" -qAtc "VACUUM ANALYZE" >/dev/null; fi
    local out="$WORK/run-$rate.json"
    echo "-- rate $rate, $DURATION"
    local status=0
    "$LOADGEN" run --target "http://127.0.0.1:$PORT/" --key "$key" --rate "$rate" \
      --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" \
      --sign "$SIGN" --pid "$SERVER_PID" --db-label "$label" \
      --baseline-json "$WORK/baseline.json" --json "$out" || status=$?
    if [[ $status -ne 0 ]]; then
      echo "!! rate $rate: loadgen exited with $status" >&2
      FAILED=1
    fi
    [[ -f "$out" ]] && runs+=("$out")
    printf 'server RSS now: %s\n' "$(grep VmRSS "/proc/$SERVER_PID/status" | tr -s ' ')"
  done
  stop_server

  local result="$RESULTS/$DATE-$db.json"
  jq -n --arg date "$DATE" --arg db "$db" --arg dblabel "$label" \
    --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
    --argjson cores "$(nproc)" \
    --slurpfile baseline "$WORK/baseline.json" \
    --slurpfile runs <(cat /dev/null "${runs[@]}") \
    '{date: $date, database: $db, db_label: $dblabel, commit: $commit,
      machine: {cpu: $cpu, cores: $cores}, baseline: $baseline[0], runs: $runs}' >"$result"
  echo "== wrote $result"

  if [[ "$KEEP_DB" != 1 ]]; then
    if [[ "$db" == postgres ]]; then
      psql "$PG_ADMIN_URL/postgres" -qAtc "DROP DATABASE IF EXISTS ${url##*/}" >/dev/null || true
    fi
    rm -rf "$WORK"
  else
    echo "kept $WORK ($url)"
  fi
}

case "${1:-all}" in
  all) bench_one sqlite; bench_one postgres ;;
  *) bench_one "$1" ;;
esac
exit $FAILED
