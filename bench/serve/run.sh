#!/usr/bin/env bash
# cairn serve vs FastAPI + uvicorn + scikit-learn vs the floor (a bare axum server), on loopback.
#
# Each server is pinned to CPU 0 and wrk to CPU 1. Measured: requests/s, p50 and p99 for single
# /predict at concurrency 1, 16, 64; rows/s for batches of 100 (/predict/batch, concurrency 16);
# start-up time to the first healthy /health; resident memory after the load. The servers take
# turns, ROUNDS times (default 3) DURATION seconds (default 5) each; the table shows medians.
#
#   bench/serve/run.sh            the comparison
#   bench/serve/run.sh --soak     then 60 s against cairn at concurrency 64: errors and memory over time
#
# Needs wrk and curl (apt-get install -y wrk curl); installs FastAPI, uvicorn and scikit-learn
# into a venv under ~/.cache/cairn-bench.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${CAIRN_BENCH_CACHE:-$HOME/.cache/cairn-bench}
VENV=$CACHE/serve-venv
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
SOAK=0
[[ "${1:-}" == "--soak" ]] && SOAK=1
WORK=$(mktemp -d /tmp/cairn-bench-serve.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk curl taskset; do
    command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done

echo "== building cairn and the floor (release)"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release --quiet --bin cairn --example serve_floor)
CAIRN=$TARGET/release/cairn
FLOOR=$TARGET/release/examples/serve_floor

if [[ ! -x $VENV/bin/uvicorn ]]; then
    echo "== installing FastAPI, uvicorn, scikit-learn into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet fastapi uvicorn scikit-learn
fi
"$VENV/bin/python" "$HERE/export_model.py" "$WORK/model.json"

# Bodies: one instance, and a batch of 100.
ONE='{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
echo "$ONE" >"$WORK/one.json"
python3 - "$WORK/batch.json" <<'EOF'
import json, random, sys
random.seed(1)
rows = [{"sepal_length": round(random.uniform(4.3, 7.9), 1), "sepal_width": round(random.uniform(2.0, 4.4), 1),
         "petal_length": round(random.uniform(1.0, 6.9), 1), "petal_width": round(random.uniform(0.1, 2.5), 1)}
        for _ in range(100)]
json.dump({"instances": rows}, open(sys.argv[1], "w"))
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME CMD…: starts a server pinned to CPU 0 on a free port (@PORT@ in CMD) and times it
# to its first healthy /health; sets PORT, PID, STARTUP_MS.
start() {
    local name=$1; shift
    PORT=$(free_port)
    local args=() a
    for a in "$@"; do [[ $a == @PORT@ ]] && a=$PORT; args+=("$a"); done
    local line
    line=$(python3 "$HERE/start.py" "$PORT" "$WORK/$name.out" "$WORK/$name.err" taskset -c 0 "${args[@]}") || {
        echo "$name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1; }
    read -r PID STARTUP_MS <<<"$line"
    PIDS+=("$PID")
}

# stop PID: ends a server started by `start` and waits until it is gone.
stop() {
    kill "$1" 2>/dev/null || true
    while kill -0 "$1" 2>/dev/null; do sleep 0.01; done
}

# load C PATH BODY: runs wrk; prints "req/s p50_ms p99_ms errors".
load() {
    local c=$1 path=$2 body=$3
    local out
    out=$(BODY_FILE=$body taskset -c 1 wrk -t1 -c"$c" -d"${DURATION}s" --latency -s "$HERE/post.lua" \
        "http://127.0.0.1:$PORT$path")
    echo "$out" >>"$WORK/wrk.log"
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx/ { err += $NF }
        /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
        END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, err }' <<<"$out"
}

rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

SERVERS=(fastapi floor cairn)
LOADS=(c1 c16 c64 batch)
declare -A PORT_OF PID_OF R

echo "== starting (each pinned to CPU 0; start-up = time to the first healthy /health)"
launch() {
    local name=$1; shift
    start "$name" "$@"
    PORT_OF[$name]=$PORT; PID_OF[$name]=$PID; R[$name,startup]=$STARTUP_MS
    echo "   $name: $STARTUP_MS ms"
}
launch fastapi "$VENV/bin/uvicorn" --app-dir "$HERE" fastapi_app:app --host 127.0.0.1 --port @PORT@ \
    --workers 1 --log-level warning --no-access-log
launch floor "$FLOOR" @PORT@
launch cairn "$CAIRN" serve --model "$WORK/model.json" --port @PORT@

# run_load NAME LOAD: one wrk run; appends "req/s p50 p99 errors" to $WORK/NAME.LOAD.
run_load() {
    PORT=${PORT_OF[$1]}
    case $2 in
        c1) load 1 /predict "$WORK/one.json" ;;
        c16) load 16 /predict "$WORK/one.json" ;;
        c64) load 64 /predict "$WORK/one.json" ;;
        batch) load 16 /predict/batch "$WORK/batch.json" ;;
    esac >>"$WORK/$1.$2"
}

for name in "${SERVERS[@]}"; do
    DURATION=2 run_load "$name" c16 && rm "$WORK/$name.c16" # warm-up
done
# The machine is shared: servers take turns within each round, so a busy spell hits all alike.
for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS ($DURATION s per run)"
    for l in "${LOADS[@]}"; do
        for name in "${SERVERS[@]}"; do run_load "$name" "$l"; done
    done
done

# median FILE COLUMN
median() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for name in "${SERVERS[@]}"; do
    for l in "${LOADS[@]}"; do
        R[$name,rps_$l]=$(median "$WORK/$name.$l" 1)
        R[$name,p50_$l]=$(median "$WORK/$name.$l" 2)
        R[$name,p99_$l]=$(median "$WORK/$name.$l" 3)
        R[$name,err_$l]=$(awk '{ s += $4 } END { print s }' "$WORK/$name.$l")
    done
    R[$name,rows]=$(( ${R[$name,rps_batch]} * 100 ))
    R[$name,rss]=$(rss_mib "${PID_OF[$name]}")
    stop "${PID_OF[$name]}"
done

echo
echo "medians of $ROUNDS runs of $DURATION s; wrk -t1 on CPU 1, server on CPU 0"
printf "%-24s %12s %12s %12s\n" "" fastapi floor cairn
row() { printf "%-24s %12s %12s %12s\n" "$1" "${R[fastapi,$2]}" "${R[floor,$2]}" "${R[cairn,$2]}"; }
for c in 1 16 64; do
    row "/predict c=$c req/s" rps_c$c; row "  p50 ms" p50_c$c; row "  p99 ms" p99_c$c; row "  errors (all runs)" err_c$c
done
row "batch x100 c=16 rows/s" rows
row "  p99 ms" p99_batch
row "  errors (all runs)" err_batch
row "start-up ms" startup
row "RSS MiB after load" rss
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
for l in c1 c16 c64 batch; do
    echo "$l: cairn/fastapi $(ratio "${R[cairn,rps_$l]}" "${R[fastapi,rps_$l]}")x, cairn/floor $(ratio "${R[cairn,rps_$l]}" "${R[floor,rps_$l]}")"
done

if ((SOAK)); then
    echo
    echo "== soak: cairn, 60 s at concurrency 64 (RSS every 5 s)"
    start cairn-soak "$CAIRN" serve --model "$WORK/model.json" --port @PORT@
    (for _ in $(seq 12); do sleep 5; echo "   RSS $(rss_mib "$PID") MiB"; done) &
    SAMPLER=$!
    read -r rps p50 p99 err < <(DURATION=60 load 64 /predict "$WORK/one.json")
    wait "$SAMPLER" || true
    echo "   60 s c=64: $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $err"
    stop "$PID"
fi
