"""The usual scikit-learn scripts for the Iris pipeline, one process per stage as a DVC
pipeline runs them: preprocess, train (one variant), evaluate. They read and write the same
files as cairn's stages (train.csv/test.csv with raw values), so `train` and `evaluate` also run
on a split cairn made.

    python sklearn_stages.py preprocess IRIS_CSV OUT_DIR TEST_SIZE SEED
    python sklearn_stages.py train PREP_DIR MODEL VARIANT_JSON
    python sklearn_stages.py evaluate PREP_DIR MODEL METRICS_JSON
"""

import csv
import json
import os
import sys

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in body])
    y = np.array([r[-1] for r in body])
    return header, x, y


def preprocess(src, out, test_size, seed):
    header, _, _ = read(src)
    with open(src, newline="") as f:
        body = list(csv.reader(f))[1:]
    labels = [r[-1] for r in body]
    train, test = train_test_split(body, test_size=float(test_size), random_state=int(seed), stratify=labels)
    os.makedirs(out, exist_ok=True)
    for name, part in (("train.csv", train), ("test.csv", test)):
        with open(os.path.join(out, name), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(part)


def model_for(variant):
    algorithm, h, seed = variant["algorithm"], variant.get("hyperparameters", {}), variant.get("seed", 42)
    if algorithm == "logistic":
        # linfa's alpha is the L2 weight on the coefficients; scikit-learn's C is its inverse.
        return LogisticRegression(C=1.0 / h.get("alpha", 1.0), max_iter=h.get("max_iterations", 200))
    tree = dict(
        criterion=h.get("criterion", "gini"),
        max_depth=h.get("max_depth"),
        min_samples_split=h.get("min_samples_split", 2),
        min_samples_leaf=h.get("min_samples_leaf", 1),
        min_impurity_decrease=h.get("min_impurity_decrease", 0.0),
        random_state=seed,
    )
    if algorithm == "tree":
        return DecisionTreeClassifier(**tree)
    return RandomForestClassifier(
        n_estimators=h.get("n_estimators", 100),
        max_features=h.get("feature_fraction", 0.7),
        bootstrap=h.get("bootstrap", True),
        **tree,
    )


def train(prep, model_path, variant_json):
    _, x, y = read(os.path.join(prep, "train.csv"))
    scaler = StandardScaler().fit(x)
    model = model_for(json.loads(variant_json)).fit(scaler.transform(x), y)
    joblib.dump((scaler, model), model_path)


def evaluate(prep, model_path, metrics_path):
    scaler, model = joblib.load(model_path)
    _, x, y = read(os.path.join(prep, "test.csv"))
    predicted = model.predict(scaler.transform(x))
    p, r, f, _ = precision_recall_fscore_support(y, predicted, average="macro", zero_division=0)
    metrics = {
        "accuracy": accuracy_score(y, predicted),
        "precision_macro": p,
        "recall_macro": r,
        "f1_macro": f,
        "confusion_matrix": confusion_matrix(y, predicted).tolist(),
    }
    with open(metrics_path, "w") as out:
        json.dump(metrics, out, indent=2)


if __name__ == "__main__":
    {"preprocess": preprocess, "train": train, "evaluate": evaluate}[sys.argv[1]](*sys.argv[2:])
