"""Evidently's data-drift report (DataDriftPreset, its defaults) on a reference and a current CSV.

    evidently_drift.py REFERENCE.csv CURRENT.csv FEATURE,… [--runs R]

Prints one JSON object: the seconds to load both CSVs with pandas, the seconds of each
Report.run (computing the report) plus .dict() (reading its results), the test and the value
Evidently used per column, the columns it calls drifted, and its peak RSS in MiB.
"""

import argparse
import json
import resource
import statistics
import time

t_import = time.perf_counter()
import pandas as pd  # noqa: E402
from evidently import Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402
import evidently  # noqa: E402

import_s = time.perf_counter() - t_import

ap = argparse.ArgumentParser()
ap.add_argument("reference")
ap.add_argument("current")
ap.add_argument("features")
ap.add_argument("--runs", type=int, default=3)
args = ap.parse_args()
features = args.features.split(",")

t0 = time.perf_counter()
reference = pd.read_csv(args.reference, usecols=features)
current = pd.read_csv(args.current, usecols=features)
load_s = time.perf_counter() - t0

runs = []
for _ in range(args.runs):
    t0 = time.perf_counter()
    result = Report([DataDriftPreset()]).run(current, reference).dict()
    runs.append(time.perf_counter() - t0)

columns = {}
count = None
for m in result["metrics"]:
    config = m["config"]
    if config["type"].endswith(":ValueDrift"):
        method, threshold, value = config["method"], config["threshold"], m["value"]
        # A p-value drifts below its threshold; a distance (Wasserstein, PSI, …) at or above it.
        drifted = bool(value < threshold if "p_value" in method else value >= threshold)
        columns[config["column"]] = {"method": method, "threshold": threshold, "value": float(value), "drift": drifted}
    elif config["type"].endswith(":DriftedColumnsCount"):
        count = m["value"]["count"]
drifted = [f for f in features if columns[f]["drift"]]
assert count is None or int(count) == len(drifted), (count, drifted)

print(json.dumps({
    "version": evidently.__version__,
    "pandas": pd.__version__,
    "reference_rows": len(reference),
    "current_rows": len(current),
    "import_s": import_s,
    "load_s": load_s,
    "run_s": runs,
    "run_median_s": statistics.median(runs),
    "columns": columns,
    "drifted": drifted,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
