#!/usr/bin/env bash
# cairn's model registry vs MLflow's, and what serving with a candidate or a shadow costs. Not a test.
#
# 1. Registry (bench.py): one model with N versions (default 10,000); list all versions, show
#    one, resolve models:/iris@production, promote. cairn is timed as a whole process (what a user
#    runs); MLflow (sqlite backend) in-process through MlflowClient, import and warm-up excluded,
#    which is generous to MLflow. Medians of RUNS runs (default 15). Target: each cairn op well
#    under 50 ms.
# 2. Serve: requests/s of `cairn serve` at concurrency 16 with models:/iris@production alone, with
#    --candidate models:/iris/2 --split 0.1, with --shadow models:/iris/2, and with both; the same
#    wrk setup as bench/serve/run.sh (server on CPU 0, wrk on CPU 1, its post.lua and start.py),
#    ROUNDS rounds (default 3) of DURATION seconds (default 5), medians. Target: each ≥ 80 % of alone.
#
#   bench/registry/run.sh             both parts
#   bench/registry/run.sh --registry  part 1 only
#   bench/registry/run.sh --serve     part 2 only
#   N=1000 RUNS=5 ROUNDS=1 DURATION=2 bench/registry/run.sh   a quick look
#
# Needs wrk and curl for part 2 (apt-get install -y wrk curl); installs MLflow and scikit-learn
# into a venv under ~/.cache/cairn-bench. The populated MLflow database is cached there by N
# (populating 10,000 versions through MLflow's client takes a few minutes, once).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SERVE=$ROOT/bench/serve
CACHE=${CAIRN_BENCH_CACHE:-$HOME/.cache/cairn-bench}
VENV=$CACHE/registry-venv
N=${N:-10000}
RUNS=${RUNS:-15}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
REGISTRY=1 SERVING=1
case "${1:-}" in
    --registry) SERVING=0 ;;
    --serve) REGISTRY=0 ;;
    "") ;;
    *) echo "usage: $0 [--registry|--serve]" >&2; exit 2 ;;
esac
WORK=$(mktemp -d /tmp/cairn-bench-registry.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
    echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
}
trap cleanup EXIT
# The machine may be shared: say how busy it was, beside the figures.
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== building cairn (release)"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release --quiet --bin cairn)
CAIRN=$TARGET/release/cairn

if [[ ! -x $VENV/bin/mlflow ]]; then
    echo "== installing MLflow and scikit-learn into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'mlflow==3.17.*' scikit-learn
fi

if ((REGISTRY)); then
    echo "== registry: $N versions, $RUNS runs per op"
    "$VENV/bin/python" "$HERE/bench.py" --cairn "$CAIRN" --work "$WORK/registry" \
        --cache "$CACHE/registry" --n "$N" --runs "$RUNS"
fi
((SERVING)) || exit 0

for tool in wrk curl taskset; do
    command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done

echo
echo "== serve: a workspace with iris versions 1 and 2 (another seed: other bytes), production -> 1"
WS=$WORK/serve
mkdir -p "$WS"
cd "$WS" # serve resolves models:/ references in the workspace it runs in
"$CAIRN" init >/dev/null
"$VENV/bin/python" "$SERVE/export_model.py" v1.json
python3 -c 'import json; m = json.load(open("v1.json")); m["seed"] = 1; json.dump(m, open("v2.json", "w"), indent=2)'
"$CAIRN" models register v1.json --name iris >/dev/null
"$CAIRN" models register v2.json --name iris >/dev/null
"$CAIRN" models promote models:/iris/1 --alias production >/dev/null
echo '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}' >"$WORK/one.json"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# launch NAME ARGS…: `cairn serve ARGS` pinned to CPU 0 on a free port, up once /health answers
# (bench/serve/start.py); sets PORT_OF[NAME], PID_OF[NAME].
declare -A PORT_OF PID_OF
launch() {
    local name=$1; shift
    local port pid ms
    port=$(free_port)
    read -r pid ms < <(python3 "$SERVE/start.py" "$port" "$WORK/$name.out" "$WORK/$name.err" \
        taskset -c 0 "$CAIRN" serve "$@" --host 127.0.0.1 --port "$port") || true
    if [[ -z ${ms:-} || $ms == -1 ]]; then echo "$name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1; fi
    PIDS+=("$pid"); PORT_OF[$name]=$port; PID_OF[$name]=$pid
    echo "   $name: up in $ms ms"
}

# load NAME SECONDS: wrk on CPU 1, 16 connections, POST /predict; appends
# "req/s p50_ms p99_ms errors" to $WORK/NAME.runs.
load() {
    local out
    out=$(BODY_FILE=$WORK/one.json taskset -c 1 wrk -t1 -c16 -d"$2s" --latency -s "$SERVE/post.lua" \
        "http://127.0.0.1:${PORT_OF[$1]}/predict")
    echo "$out" >>"$WORK/wrk.log"
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx/ { err += $NF }
        /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
        END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, err }' <<<"$out" >>"$WORK/$1.runs"
}

PROD=models:/iris@production
V2=models:/iris/2
CONFIGS=(single candidate shadow both)
launch single --model $PROD
launch candidate --model $PROD --candidate $V2 --split 0.1
launch shadow --model $PROD --shadow $V2
launch both --model $PROD --candidate $V2 --split 0.1 --shadow $V2

for c in "${CONFIGS[@]}"; do load "$c" 2 && rm "$WORK/$c.runs"; done # warm-up
# Configurations take turns within each round, so a busy spell of the shared machine hits all alike.
for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS ($DURATION s per run)"
    for c in "${CONFIGS[@]}"; do load "$c" "$DURATION"; done
done
for c in "${CONFIGS[@]}"; do kill "${PID_OF[$c]}" 2>/dev/null || true; done

# median FILE COLUMN
median() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "cairn serve, POST /predict, concurrency 16: medians of $ROUNDS runs of $DURATION s; wrk -t1 on CPU 1, server on CPU 0"
printf "%-44s %9s %8s %8s %8s %9s\n" "" "req/s" "p50 ms" "p99 ms" "errors" "vs single"
single=$(median "$WORK/single.runs" 1)
declare -A LABEL=(
    [single]="--model $PROD"
    [candidate]="+ --candidate $V2 --split 0.1"
    [shadow]="+ --shadow $V2"
    [both]="+ --candidate ... --split 0.1 --shadow ..."
)
for c in "${CONFIGS[@]}"; do
    rps=$(median "$WORK/$c.runs" 1)
    printf "%-44s %9s %8s %8s %8s %8s%%\n" "${LABEL[$c]}" "$rps" "$(median "$WORK/$c.runs" 2)" \
        "$(median "$WORK/$c.runs" 3)" "$(awk '{ s += $4 } END { print s }' "$WORK/$c.runs")" \
        "$(awk -v a="$rps" -v b="$single" 'BEGIN { printf "%.0f", 100 * a / b }')"
done
echo "target: candidate, shadow and both each ≥ 80 % of single"
