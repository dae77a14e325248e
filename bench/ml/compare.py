"""Runs cairn and the scikit-learn stage scripts on the reference Iris pipeline: accuracy per
variant on the same split (cairn's train.csv/test.csv), then the wall time of
preprocess + train + evaluate for all variants, each stage a process as in a pipeline."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def cairn_train_cmd(cairn, name, variant):
    cmd = [cairn, "train", "--input", "prep", "--output", f"models/{name}.json",
           "--algorithm", variant["algorithm"], "--seed", str(variant.get("seed", 42))]
    for key, value in variant.get("hyperparameters", {}).items():
        cmd += ["--param", f"{key}={'none' if value is None else str(value).lower() if isinstance(value, bool) else value}"]
    return cmd


def cairn_pipeline(cairn, work, params):
    pre = params["preprocess"]
    run([cairn, "preprocess", "--input", "iris.csv", "--output", "prep", "--test-size", str(pre["test_size"]),
         "--seed", str(pre["seed"]), "--scale", pre["scale"]], work)
    for name, variant in params["train"].items():
        run(cairn_train_cmd(cairn, name, variant), work)
    for name in params["train"]:
        run([cairn, "evaluate", "--model", f"models/{name}.json", "--input", "prep",
             "--metrics", f"metrics/{name}.json"], work)


def sklearn_stage(python, *args):
    return [python, os.path.join(HERE, "sklearn_stages.py"), *args]


def sklearn_pipeline(python, work, params, prep="skprep", preprocess=True):
    pre = params["preprocess"]
    if preprocess:
        run(sklearn_stage(python, "preprocess", "iris.csv", prep, str(pre["test_size"]), str(pre["seed"])), work)
    os.makedirs(os.path.join(work, "skmodels"), exist_ok=True)
    os.makedirs(os.path.join(work, "skmetrics"), exist_ok=True)
    for name, variant in params["train"].items():
        run(sklearn_stage(python, "train", prep, f"skmodels/{name}.joblib", json.dumps(variant)), work)
    for name in params["train"]:
        run(sklearn_stage(python, "evaluate", prep, f"skmodels/{name}.joblib", f"skmetrics/{name}.json"), work)


def timed(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with open(os.path.join(args.root, "params.yaml")) as f:
        params = yaml.safe_load(f)
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="cairn-bench-ml-") as work:
        shutil.copy(os.path.join(args.root, "data", "iris.csv"), os.path.join(work, "iris.csv"))
        # Accuracy on the same split: scikit-learn trains and evaluates on cairn's prep/.
        cairn_pipeline(args.cairn, work, params)
        sklearn_pipeline(python, work, params, prep="prep", preprocess=False)
        print(f"{'variant':<15} {'algorithm':<10} {'cairn acc':>10} {'sklearn acc':>12}")
        for name, variant in params["train"].items():
            ours = json.load(open(os.path.join(work, "metrics", f"{name}.json")))["accuracy"]
            theirs = json.load(open(os.path.join(work, "skmetrics", f"{name}.json")))["accuracy"]
            print(f"{name:<15} {variant['algorithm']:<10} {ours:>10.4f} {theirs:>12.4f}")
        print()
        stages = 1 + 2 * len(params["train"])
        ours = timed(lambda: cairn_pipeline(args.cairn, work, params), args.runs)
        theirs = timed(lambda: sklearn_pipeline(python, work, params), args.runs)
        print(f"preprocess + train + evaluate, {len(params['train'])} variants ({stages} processes), "
              f"median of {args.runs} runs (min-max):")
        print(f"  cairn         {ours[0]:8.3f} s  ({ours[1]:.3f}-{ours[2]:.3f})")
        print(f"  scikit-learn  {theirs[0]:8.3f} s  ({theirs[1]:.3f}-{theirs[2]:.3f})")
        print(f"  ratio         {theirs[0] / ours[0]:8.1f}x faster")


if __name__ == "__main__":
    main()
