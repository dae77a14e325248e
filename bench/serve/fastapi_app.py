"""The anchor: the FastAPI + scikit-learn service MLOps projects usually write.

Same data (Iris, shipped with scikit-learn), same algorithm (standard scaling + multinomial
logistic regression) and the same request and reply shapes as `cairn serve`.
"""

from typing import List, Union

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

iris = load_iris()
CLASSES = list(iris.target_names)
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(iris.data, iris.target)


class Instance(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


class Batch(BaseModel):
    instances: List[Instance]


def rows(instances):
    return np.array([[i.sepal_length, i.sepal_width, i.petal_length, i.petal_width] for i in instances])


def replies(probabilities):
    return [
        {"class": CLASSES[int(np.argmax(p))], "probabilities": dict(zip(CLASSES, map(float, p)))}
        for p in probabilities
    ]


app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(body: Union[Batch, Instance]):
    if isinstance(body, Batch):
        return {"predictions": replies(model.predict_proba(rows(body.instances)))}
    return replies(model.predict_proba(rows([body])))[0]


@app.post("/predict/batch")
def predict_batch(body: Batch):
    return {"predictions": replies(model.predict_proba(rows(body.instances)))}
