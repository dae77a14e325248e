#!/usr/bin/env bash
# Serving an ONNX model: `cairn serve --model model.onnx` beside cairn's native model file and
# beside MLflow's scoring server, all three answering with the same scikit-learn model
# (export.py). Same wrk setup as bench/serve: each server pinned to CPU 0, wrk -t1 on CPU 1,
# one instance per request at concurrency 16; the servers take turns ROUNDS times (default 3)
# for DURATION seconds (default 5); the table shows medians and the ratios the issue asks for
# (ONNX at least 50 % of native, at least 50x MLflow).
#
#   bench/onnx/run.sh
#
# Needs wrk, curl and taskset; uses the venv of scripts/clients-venv.sh (MLflow, scikit-learn,
# skl2onnx). CAIRN=path/to/cairn skips the release build.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SERVE=$ROOT/bench/serve
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d /tmp/cairn-bench-onnx.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk curl taskset; do
    command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done
if [[ -z ${CAIRN:-} ]]; then
    echo "== building cairn (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin cairn)
    CAIRN=${CARGO_TARGET_DIR:-$ROOT/target}/release/cairn
fi
PYTHON=$(bash "$ROOT/scripts/clients-venv.sh")
"$PYTHON" "$HERE/export.py" "$WORK" 2>/dev/null

ONE='{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
echo "$ONE" >"$WORK/one.json"
echo "{\"dataframe_records\": [$ONE]}" >"$WORK/records.json"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# launch NAME CMD…: starts a server pinned to CPU 0 on a free port (@PORT@ in CMD).
declare -A PORT_OF PID_OF PATH_OF BODY_OF
launch() {
    local name=$1; shift
    local port args=() a line
    port=$(free_port)
    for a in "$@"; do [[ $a == @PORT@ ]] && a=$port; args+=("$a"); done
    line=$(python3 "$SERVE/start.py" "$port" "$WORK/$name.out" "$WORK/$name.err" taskset -c 0 "${args[@]}") || {
        echo "$name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1; }
    read -r pid ms <<<"$line"
    PIDS+=("$pid"); PORT_OF[$name]=$port; PID_OF[$name]=$pid
    echo "   $name: up in $ms ms"
}

# load NAME: one wrk run at concurrency 16; prints "req/s p99_ms errors".
load() {
    local out
    out=$(BODY_FILE=${BODY_OF[$1]} taskset -c 1 wrk -t1 -c16 -d"${DURATION}s" --latency \
        -s "$SERVE/post.lua" "http://127.0.0.1:${PORT_OF[$1]}${PATH_OF[$1]}")
    echo "$out" >>"$WORK/wrk.log"
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx/ { err += $NF }
        /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
        END { printf "%.0f %.3f %d\n", rps, p99, err }' <<<"$out"
}

echo "== starting (each pinned to CPU 0)"
launch native "$CAIRN" serve --model "$WORK/model.json" --port @PORT@
launch onnx "$CAIRN" serve --model "$WORK/model.onnx" --port @PORT@
launch mlflow "$PYTHON" "$HERE/mlflow_server.py" @PORT@ "$WORK/mlflow"
PATH_OF=([native]=/predict [onnx]=/predict [mlflow]=/invocations)
BODY_OF=([native]=$WORK/one.json [onnx]=$WORK/one.json [mlflow]=$WORK/records.json)
SERVERS=(native onnx mlflow)

# The same answer from all three, before any is timed.
for name in "${SERVERS[@]}"; do
    curl -sf -H 'Content-Type: application/json' --data @"${BODY_OF[$name]}" \
        "http://127.0.0.1:${PORT_OF[$name]}${PATH_OF[$name]}" >"$WORK/$name.answer"
    echo "   $name says: $(head -c 160 "$WORK/$name.answer")"
done

for name in "${SERVERS[@]}"; do DURATION=2 load "$name" >/dev/null; done # warm-up
for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS ($DURATION s per run)"
    for name in "${SERVERS[@]}"; do load "$name" >>"$WORK/$name.runs"; done
done

median() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A RPS P99 ERR
for name in "${SERVERS[@]}"; do
    RPS[$name]=$(median "$WORK/$name.runs" 1)
    P99[$name]=$(median "$WORK/$name.runs" 2)
    ERR[$name]=$(awk '{ s += $3 } END { print s }' "$WORK/$name.runs")
done

echo
echo "medians of $ROUNDS runs of $DURATION s, one instance per request, c=16; server on CPU 0, wrk on CPU 1"
printf "%-22s %12s %12s %12s\n" "" "cairn native" "cairn onnx" "mlflow"
printf "%-22s %12s %12s %12s\n" "req/s" "${RPS[native]}" "${RPS[onnx]}" "${RPS[mlflow]}"
printf "%-22s %12s %12s %12s\n" "p99 ms" "${P99[native]}" "${P99[onnx]}" "${P99[mlflow]}"
printf "%-22s %12s %12s %12s\n" "errors (all runs)" "${ERR[native]}" "${ERR[onnx]}" "${ERR[mlflow]}"
echo
awk -v o="${RPS[onnx]}" -v n="${RPS[native]}" -v m="${RPS[mlflow]}" 'BEGIN {
    printf "onnx/native %.1f %% (target >= 50 %%), onnx/mlflow %.0fx (target >= 50x)\n", 100 * o / n, (m > 0 ? o / m : 0) }'
