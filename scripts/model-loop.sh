#!/usr/bin/env bash
# The model loop of the reference project, after `cairn repro`: register the selected model,
# compare it with production on the held-out split, promote it if it wins, and show that a
# server on models:/iris@production follows. CI runs it on every push; a team runs the same
# lines and commits cairn-registry.yaml.
#
#   scripts/model-loop.sh            uses target/debug/cairn (CAIRN=path to use another)
#
# This repository has no remote, so production's bytes come from `cairn repro` itself: when a
# change retrains the model, run this script and commit cairn-registry.yaml with pipeline.lock
# (CI runs it on a fresh clone, where a production version repro cannot make would be missing).
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN=${CAIRN:-target/debug/cairn}

version=$("$CAIRN" models register models/model.json --name iris --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
echo "== registered models:/iris/$version"
if "$CAIRN" models compare "models:/iris/$version" --against models:/iris@production --promote production; then
    echo "== models:/iris/$version is production now"
else
    echo "== production stays: models:/iris/$version does not beat it"
fi

echo "== a server on models:/iris@production"
out=$(mktemp)
"$CAIRN" serve --model models:/iris@production --port 0 >"$out" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
address=$(sed -n 's/^listening on //p' "$out")
[ -n "$address" ] || { echo "the server did not start" >&2; exit 1; }
curl -sS -D - -o /dev/null -X POST "$address/predict" -H 'Content-Type: application/json' \
    -d '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}' \
    | grep -i '^x-model-version'
"$CAIRN" models history iris --alias production
