#!/usr/bin/env bash
# cairn vs DVC 3.x moving 1 GiB in 10,000 files to and from a remote: a folder, and an
# S3-compatible server on 127.0.0.1 (s3s-fs, see below) beside that server's own ceiling. Not a test.
# Usage: bench/remote/run.sh [--files N] [--total-mib M] [--runs R] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/../.."
B="${CAIRN_BENCH_DIR:-$HOME/.cache/cairn-bench}"
VENV="$B/dvc-s3-venv"
[ -x "$VENV/bin/dvc" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q 'dvc[s3]==3.67.*'; }
# s3s-fs 0.15+ needs a newer rustc; the install takes a few minutes, once. It is built from the
# registry's source with one fix (s3s-fs-head-folder.patch) without which DVC cannot pull from it.
S3S="$B/s3s-fs-0.14.1-patched"
if [ ! -x "$S3S/bin/s3s-fs" ]; then
    SRC="$B/s3s-fs-src"
    rm -rf "$SRC" && mkdir -p "$SRC"
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
        https://static.crates.io/crates/s3s-fs/s3s-fs-0.14.1.crate "$SRC/s3s-fs.crate"
    tar xzf "$SRC/s3s-fs.crate" -C "$SRC"
    PATCH="$PWD/bench/remote/s3s-fs-head-folder.patch"
    (cd "$SRC/s3s-fs-0.14.1" && git apply "$PATCH")
    CARGO_TARGET_DIR="$B/s3s-fs-target" \
        cargo install --path "$SRC/s3s-fs-0.14.1" --locked --features binary --root "$S3S"
fi
cargo build --release --quiet --bin cairn --example s3_ceiling
T="${CARGO_TARGET_DIR:-target}/release"
python3 bench/remote/bench.py --cairn "$T/cairn" --dvc "$VENV/bin/dvc" \
    --s3s "$S3S/bin/s3s-fs" --ceiling "$T/examples/s3_ceiling" --work "$B/remote" "$@"
