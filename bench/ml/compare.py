"""cairn's built-in stages vs the usual scikit-learn stage scripts on the reference Iris pipeline
(params.yaml): accuracy per variant on the same split (scikit-learn trains and evaluates on
cairn's train.csv/test.csv), then the wall time of preprocess + train + evaluate for all variants,
each stage its own process as in a pipeline.

Usage: compare.py CAIRN [--root DIR] [--runs R]   (run with a Python that has scikit-learn)
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from common import median_of, run, table  # noqa: E402


def param_text(value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def cairn_stages(cairn, params):
    pre = params["preprocess"]
    yield [cairn, "preprocess", "--input", "iris.csv", "--output", "prep", "--test-size", str(pre["test_size"]),
           "--seed", str(pre["seed"]), "--scale", pre["scale"]]
    for name, variant in params["train"].items():
        cmd = [cairn, "train", "--input", "prep", "--output", f"models/{name}.json",
               "--algorithm", variant["algorithm"], "--seed", str(variant.get("seed", 42))]
        for key, value in variant.get("hyperparameters", {}).items():
            cmd += ["--param", f"{key}={param_text(value)}"]
        yield cmd
    for name in params["train"]:
        yield [cairn, "evaluate", "--model", f"models/{name}.json", "--input", "prep", "--metrics", f"metrics/{name}.json"]


def sklearn_stages(params, prep="skprep", preprocess=True):
    script = [sys.executable, os.path.join(HERE, "sklearn_stages.py")]
    pre = params["preprocess"]
    if preprocess:
        yield script + ["preprocess", "iris.csv", prep, str(pre["test_size"]), str(pre["seed"])]
    for name, variant in params["train"].items():
        yield script + ["train", prep, f"skmodels/{name}.joblib", json.dumps(variant)]
    for name in params["train"]:
        yield script + ["evaluate", prep, f"skmodels/{name}.joblib", f"skmetrics/{name}.json"]


def pipeline(stages, work):
    """Runs the stages in order; (total seconds, peak MiB of any stage)."""
    seconds, peak = 0.0, 0.0
    for cmd in stages:
        s, rss = run(cmd, work)
        seconds, peak = seconds + s, max(peak, rss)
    return seconds, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cairn")
    ap.add_argument("--root", default=os.path.join(HERE, "..", ".."))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    cairn = os.path.abspath(args.cairn)
    with open(os.path.join(args.root, "params.yaml")) as f:
        params = yaml.safe_load(f)
    variants = params["train"]
    with tempfile.TemporaryDirectory(prefix="cairn-bench-ml-") as work:
        shutil.copy(os.path.join(args.root, "data", "iris.csv"), os.path.join(work, "iris.csv"))
        for d in ("skmodels", "skmetrics"):
            os.makedirs(os.path.join(work, d))
        pipeline(cairn_stages(cairn, params), work)
        pipeline(sklearn_stages(params, prep="prep", preprocess=False), work)
        print(f"{'variant':<15} {'algorithm':<10} {'cairn accuracy':>15} {'scikit-learn accuracy':>22}")
        for name, variant in variants.items():
            ours = json.load(open(os.path.join(work, "metrics", f"{name}.json")))["accuracy"]
            theirs = json.load(open(os.path.join(work, "skmetrics", f"{name}.json")))["accuracy"]
            print(f"{name:<15} {variant['algorithm']:<10} {ours:>15.4f} {theirs:>22.4f}")
        print()
        case = f"preprocess+train+evaluate, {len(variants)} variants ({1 + 2 * len(variants)} processes)"
        ours = median_of(args.runs, lambda: pipeline(cairn_stages(cairn, params), work))
        theirs = median_of(args.runs, lambda: pipeline(sklearn_stages(params), work))
        print(f"median of {args.runs} runs")
        table([(case, ours, theirs)], "scikit-learn")


if __name__ == "__main__":
    main()
