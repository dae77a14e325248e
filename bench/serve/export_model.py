"""Writes the model fastapi_app.py trains (Iris, standard scaling, multinomial logistic
regression) as a cairn model file, so both servers answer with the same model."""

import hashlib
import json
import sys

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

iris = load_iris()
scaler = StandardScaler().fit(iris.data)
logistic = LogisticRegression(max_iter=1000).fit(scaler.transform(iris.data), iris.target)
model = {
    "format": "cairn-model",
    "format_version": 1,
    "task": "classification",
    "algorithm": "logistic",
    "hyperparameters": {"max_iter": 1000},
    "seed": 0,
    "features": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    "target": "species",
    "classes": list(iris.target_names),
    "scaler": {"kind": "standard", "mean": scaler.mean_.tolist(), "std": scaler.scale_.tolist()},
    "data_digest": hashlib.sha256(iris.data.tobytes()).hexdigest(),
    "training_metrics": {"accuracy": float(logistic.score(scaler.transform(iris.data), iris.target))},
    "predictor": {"kind": "linear", "weights": logistic.coef_.tolist(), "intercepts": logistic.intercept_.tolist()},
}
with open(sys.argv[1], "w") as f:
    json.dump(model, f, indent=2)
