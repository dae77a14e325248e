"""Writes the model fastapi_app.py trains (Iris, standard scaling, multinomial logistic
regression) as a cairn model file, so both servers answer with the same model."""

import hashlib
import json
import os
import sys

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import cairn_logistic_model  # noqa: E402

iris = load_iris()
scaler = StandardScaler().fit(iris.data)
logistic = LogisticRegression(max_iter=1000).fit(scaler.transform(iris.data), iris.target)
model = cairn_logistic_model(
    scaler,
    logistic,
    ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    iris.target_names,
    hashlib.sha256(iris.data.tobytes()).hexdigest(),
    float(logistic.score(scaler.transform(iris.data), iris.target)),
)
with open(sys.argv[1], "w") as f:
    json.dump(model, f, indent=2)
