#!/usr/bin/env bash
# Monitoring (issue 15): what the prediction log costs the server, and `cairn drift` at scale
# against Evidently's data-drift report. Not a test.
#
# 1. Throughput: the reference pipeline's model served three ways, taking turns ROUNDS times
#    (default 3) for DURATION seconds (default 5): no log, --log-db FILE.sqlite, --log-db
#    postgres://… (a PostgreSQL of its own, initdb in /tmp). Same wrk setup as bench/serve:
#    the server on CPU 0, wrk -t1 -c16 on CPU 1, single /predict, medians; PostgreSQL on
#    PG_CPUS (default 0: the server's core, so the database's work is charged to it as SQLite's
#    in-process writer is). Then the log's rows against the requests the server answered, and
#    cairn's CPU time per request from /proc: all its threads, and its log writer alone. With
#    PostgreSQL that leaves out the database's own work, so it is the part of the log's cost
#    that stays with the server when the database runs elsewhere.
# 2. Drift at scale (bench.py): ROWS (default 1,000,000) current rows, bootstrapped from the
#    training split with petal_length shifted by SHIFT (default 1.0), sent through
#    /predict/batch to a logging server (SQLite, then PostgreSQL), so cairn writes the logs
#    itself; `cairn drift --model … --log-db … --json` timed (median of RUNS, default 5), and
#    `cairn drift --reference train.csv --current current.csv --json` on the same rows.
# 3. Evidently 0.7 (DataDriftPreset) on the same two CSVs: load and report timed apart, its
#    per-column verdicts against cairn's flagged features.
#
#   [CAIRN=path/to/cairn] [ROUNDS=3] [DURATION=5] [ROWS=1000000] [RUNS=5] bench/monitoring/run.sh
#
# Without CAIRN it builds target/release/cairn. Needs wrk, curl, taskset and PostgreSQL's
# programs (apt-get install -y wrk curl postgresql); installs Evidently into a venv under
# ~/.cache/cairn-bench. Set SKIP_PG=1 to leave PostgreSQL out.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${CAIRN_BENCH_CACHE:-$HOME/.cache/cairn-bench}
VENV=$CACHE/evidently-venv
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}
SHIFT=${SHIFT:-1.0}
PG_CPUS=${PG_CPUS:-0}
SKIP_PG=${SKIP_PG:-0}

for tool in wrk curl taskset; do
    command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done
PGBIN=
if [[ $SKIP_PG != 1 ]]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [[ -x $PGBIN/initdb ]] || {
        echo "needs PostgreSQL (apt-get install -y postgresql), or SKIP_PG=1" >&2; exit 2; }
fi

if [[ -z ${CAIRN:-} ]]; then
    echo "== building cairn (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin cairn)
    CAIRN=${CARGO_TARGET_DIR:-$ROOT/target}/release/cairn
fi
CAIRN=$(realpath "$CAIRN")

if ! "$VENV/bin/python" -c 'import evidently' 2>/dev/null; then
    echo "== installing Evidently 0.7 into $VENV"
    python3 -m venv "$VENV"
    # Evidently 0.7.23 imports a pandas internal that pandas 3 removed.
    "$VENV/bin/pip" install --quiet 'evidently==0.7.23' 'pandas<3'
fi

WORK=$(mktemp -d /tmp/cairn-bench-monitoring.XXXXXX)
PGDIR=
PIDS=()
# PostgreSQL's programs run as `postgres` when this runs as root (initdb refuses root).
AS_DB=()
((EUID == 0)) && AS_DB=(runuser -u postgres --)
pg() { local program=$PGBIN/$1; shift; "${AS_DB[@]}" "$program" "$@"; }
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -n $PGDIR && -f $PGDIR/data/postmaster.pid ]]; then
        pg pg_ctl -D "$PGDIR/data" stop -m fast -w >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK" ${PGDIR:+"$PGDIR"}
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== the model: the reference pipeline (cairn repro in a copy of it)"
PROJECT=$WORK/project
mkdir -p "$PROJECT/data" "$PROJECT/crates/cairn-ml"
cp "$ROOT/pipeline.yaml" "$ROOT/params.yaml" "$PROJECT/"
cp "$ROOT/data/iris.csv" "$PROJECT/data/"
cp -r "$ROOT/crates/cairn-ml/src" "$PROJECT/crates/cairn-ml/"
(cd "$PROJECT" && git init -q && "$CAIRN" init >/dev/null && "$CAIRN" repro >/dev/null)
MODEL=$WORK/model.json
cp "$PROJECT/models/model.json" "$MODEL"
TRAIN=$PROJECT/data/prepared/train.csv
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m.get("profile"), "no profile"; print("   " + m["algorithm"] + ", profile of", m["profile"]["rows"], "training rows")' "$MODEL"

PG_URL=
PG_DRIFT_URL=
psql_value() { # psql_value DB QUERY
    "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U cairn -d "$1" -tAq -c "$2"
}
if [[ $SKIP_PG != 1 ]]; then
    echo "== PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }') of its own (CPU $PG_CPUS, default settings)"
    PGDIR=$(mktemp -d /tmp/cairn-bench-pg.XXXXXX)
    ((EUID == 0)) && chown postgres:postgres "$PGDIR"
    pg initdb -D "$PGDIR/data" -A trust -U cairn -E UTF8 >"$PGDIR/initdb.log" 2>&1 || {
        cat "$PGDIR/initdb.log" >&2; exit 1; }
    PG_PORT=$(free_port)
    # pg_ctl's postmaster and every backend it forks inherit the CPU affinity.
    taskset -c "$PG_CPUS" "${AS_DB[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
        -o "-p $PG_PORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
    psql_value postgres "CREATE DATABASE serve" >/dev/null
    psql_value postgres "CREATE DATABASE drift" >/dev/null
    PG_URL=postgres://cairn@127.0.0.1:$PG_PORT/serve
    PG_DRIFT_URL=postgres://cairn@127.0.0.1:$PG_PORT/drift
fi

# ---------------------------------------------------------------------------------------------
# 1. Throughput with the log off and on.

echo '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}' >"$WORK/one.json"
SQLITE=$WORK/serve.sqlite
WAYS=(off sqlite)
[[ $SKIP_PG != 1 ]] && WAYS+=(postgres)
declare -A PORT_OF PID_OF R
TICKS=$(getconf CLK_TCK)

launch() { # launch NAME [--log-db DB]: cairn serve pinned to CPU 0 on a free port
    local name=$1; shift
    local port line
    port=$(free_port)
    line=$(python3 "$ROOT/bench/serve/start.py" "$port" "$WORK/$name.out" "$WORK/$name.err" \
        taskset -c 0 "$CAIRN" serve --model "$MODEL" --port "$port" "$@") || {
        echo "$name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1; }
    read -r PID_OF[$name] R[$name,startup] <<<"$line"
    PIDS+=("${PID_OF[$name]}")
    PORT_OF[$name]=$port
    echo "   $name: ${R[$name,startup]} ms to healthy"
}

# cpu_ticks PID [THREAD]: CPU time (user + system, in clock ticks) of a process, or of its
# thread of that name.
cpu_ticks() {
    local stat=/proc/$1/stat task
    if [[ -n ${2:-} ]]; then
        stat=
        for task in /proc/"$1"/task/*; do
            [[ $(<"$task/comm") == "$2" ]] && stat=$task/stat
        done
        [[ -n $stat ]] || { echo 0; return; }
    fi
    # The fields after the command's closing parenthesis; utime and stime are 14 and 15.
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$stat"
}

# db_ticks NAME: the CPU time of PostgreSQL (the postmaster and every process it forked, the
# log's backend, the WAL writer and the checkpointer among them) for the postgres way, else 0.
db_ticks() {
    [[ $1 == postgres ]] || { echo 0; return; }
    local postmaster total=0 pid
    postmaster=$(head -1 "$PGDIR/data/postmaster.pid")
    for pid in "$postmaster" $(pgrep -P "$postmaster"); do
        total=$((total + $(cpu_ticks "$pid")))
    done
    echo "$total"
}

# load NAME: one wrk run at concurrency 16; appends "req/s p50_ms p99_ms errors requests
# server_ticks writer_ticks db_ticks".
load() {
    local out pid=${PID_OF[$1]} server writer db
    server=$(cpu_ticks "$pid")
    writer=$(cpu_ticks "$pid" prediction-log)
    db=$(db_ticks "$1")
    out=$(BODY_FILE=$WORK/one.json taskset -c 1 wrk -t1 -c16 -d"${DURATION}s" --latency \
        -s "$ROOT/bench/serve/post.lua" "http://127.0.0.1:${PORT_OF[$1]}/predict")
    echo "$out" >>"$WORK/wrk.log"
    awk -v server=$(($(cpu_ticks "$pid") - server)) \
        -v writer=$(($(cpu_ticks "$pid" prediction-log) - writer)) \
        -v db=$(($(db_ticks "$1") - db)) '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx/ { err += $NF }
        /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
        END { printf "%.0f %.3f %.3f %d %d %d %d %d\n", rps, p50, p99, err, n, server, writer, db }' \
        <<<"$out" >>"$WORK/$1.runs"
}

# metric NAME SERIES: the sum of a series' values in the server's /metrics.
metric() {
    curl -s "http://127.0.0.1:${PORT_OF[$1]}/metrics" | awk -v s="$2" 'index($0, s) == 1 { v += $NF } END { printf "%d\n", v }'
}

echo "== starting (each pinned to CPU 0)"
launch off
launch sqlite --log-db "$SQLITE" --require-log
[[ $SKIP_PG != 1 ]] && launch postgres --log-db "$PG_URL" --require-log

for name in "${WAYS[@]}"; do # warm-up
    DURATION=2 load "$name" && rm "$WORK/$name.runs"
done
# The machine is shared: the three take turns within each round, so a busy spell hits all alike.
for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS ($DURATION s per run)"
    for name in "${WAYS[@]}"; do load "$name"; done
done

median() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for name in "${WAYS[@]}"; do
    R[$name,rps]=$(median "$WORK/$name.runs" 1)
    R[$name,p50]=$(median "$WORK/$name.runs" 2)
    R[$name,p99]=$(median "$WORK/$name.runs" 3)
    R[$name,err]=$(awk '{ s += $4 } END { print s }' "$WORK/$name.runs")
    # CPU per request over all runs, from /proc (clock ticks of 1/TICKS s).
    for column in cpu:6 writer:7 db:8; do
        R[$name,${column%:*}]=$(awk -v t="$TICKS" -v f="${column#*:}" \
            '{ c += $f; n += $5 } END { printf "%.2f", 1e6 * c / t / n }' "$WORK/$name.runs")
    done
    R[$name,answered]=$(metric "$name" 'cairn_http_requests_total{route="/predict",status="200"}')
    R[$name,dropped]=$(metric "$name" cairn_prediction_log_dropped_total)
    R[$name,failures]=$(metric "$name" cairn_prediction_log_failures_total)
    R[$name,rss]=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/${PID_OF[$name]}/status")
    # SIGTERM: the server finishes and its log writer writes what waited before it exits.
    kill "${PID_OF[$name]}"
    while kill -0 "${PID_OF[$name]}" 2>/dev/null; do sleep 0.01; done
done
R[off,logged]=—
R[sqlite,logged]=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM predictions").fetchone()[0])' "$SQLITE")
[[ $SKIP_PG != 1 ]] && R[postgres,logged]=$(psql_value serve "SELECT count(*) FROM predictions")
for name in "${WAYS[@]}"; do
    R[$name,ratio]=$(awk -v a="${R[$name,rps]}" -v b="${R[off,rps]}" 'BEGIN { printf "%.1f %%", 100 * a / b }')
    # What the server alone could answer on a core of its own, the database elsewhere.
    R[$name,cpu_share]=$(awk -v a="${R[off,cpu]}" -v b="${R[$name,cpu]}" 'BEGIN { printf "%.1f %%", 100 * a / b }')
    # And with the database's work counted too: what the bench's shared core should show.
    R[$name,cpu_share_db]=$(awk -v a="${R[off,cpu]}" -v b="${R[$name,cpu]}" -v d="${R[$name,db]}" 'BEGIN { printf "%.1f %%", 100 * a / (b + d) }')
    R[$name,target]=$(awk -v a="${R[$name,rps]}" -v b="${R[off,rps]}" 'BEGIN { print (a >= 0.9 * b ? "yes" : "NO") }')
done
R[off,target]=—
R[off,dropped]=—
R[off,failures]=—
R[off,writer]=—
R[off,db]=—
R[sqlite,db]=—
R[off,cpu_share_db]=—
R[sqlite,cpu_share_db]=—

echo
echo "Throughput: /predict at concurrency 16, medians of $ROUNDS runs of $DURATION s;"
echo "cairn serve on CPU 0, wrk -t1 on CPU 1${PGBIN:+, PostgreSQL on CPU $PG_CPUS}"
printf "%-28s" ""; for name in "${WAYS[@]}"; do printf " %14s" "$name"; done; echo
row() { printf "%-28s" "$1"; for name in "${WAYS[@]}"; do printf " %14s" "${R[$name,$2]}"; done; echo; }
row "req/s" rps
row "  p50 ms" p50
row "  p99 ms" p99
row "  share of 'off'" ratio
row "  >= 90 % of 'off'" target
row "  wrk errors (all runs)" err
row "cairn CPU us per request" cpu
row "  of it the log writer" writer
row "  'off' CPU / this CPU" cpu_share
row "PostgreSQL CPU us per request" db
row "  'off' CPU / this + database" cpu_share_db
row "answered (server's count)" answered
row "rows in the log" logged
row "log: dropped" dropped
row "log: failed writes" failures
row "RSS MiB after the load" rss

# ---------------------------------------------------------------------------------------------
# 2 and 3. Drift over ROWS logged predictions, cairn against Evidently.

echo
python3 "$HERE/bench.py" --cairn "$CAIRN" --model "$MODEL" --train "$TRAIN" --work "$WORK" \
    --evidently-python "$VENV/bin/python" --rows "$ROWS" --shift "$SHIFT" --runs "$RUNS" \
    ${PG_DRIFT_URL:+--postgres "$PG_DRIFT_URL"}
