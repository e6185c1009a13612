"""Keep a generated image only when a classifier of the reals sees its class in it (the
``accept`` that ``msgan.inference.generate.generate`` takes).

A class-conditional GAN trained on a few images per class makes many images that look like
another class, or like none, under a class's label. Added to a training set they are label noise:
on the imbalanced digits they cost a classifier 13-18 points of balanced accuracy
(benchmarks/RESULTS.md, "Small data"). The filter asks a small classifier trained on the same
reals (the snapshot scorer's, or one trained with the same recipe) and keeps an image only when
its predicted class is the one it was generated for; ``generate`` draws further seeds until a
class has its count or its candidate budget is spent.

A class the classifier itself does not recognise among its own reals (recall below
``MIN_RECALL``) is not filtered: rejecting its images would only repeat the classifier's error.
"""
from __future__ import annotations

import numpy as np

from msgan.metrics.extractor import CLASSIFIER_MAX_RES, shrink

MIN_RECALL = 0.5


class ClassFilter:
    """``accept(images, k)`` → bool mask: which uint8 (N, C, R, R) images look like class k."""

    def __init__(self, model, images: np.ndarray, labels: np.ndarray, classes):
        self.model = model
        self.classes = list(classes)
        labels = np.asarray(labels).reshape(-1)
        predicted = self._predict(images)
        self.recall = {}
        for k, name in enumerate(self.classes):
            mine = labels == k
            self.recall[name] = float((predicted[mine] == k).mean()) if mine.any() else 0.0
        self.unfiltered = [c for c, r in self.recall.items() if r < MIN_RECALL]

    def _predict(self, images: np.ndarray) -> np.ndarray:
        return self.model.infer(shrink(np.asarray(images), CLASSIFIER_MAX_RES))[1].argmax(1)

    def accept(self, images: np.ndarray, k: int) -> np.ndarray:
        if self.classes[k] in self.unfiltered:
            return np.ones(len(images), bool)
        return self._predict(images) == k
