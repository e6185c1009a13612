"""Keep a generated image only when a classifier of the reals sees its class in it (the
``accept`` that ``msgan.inference.generate.generate`` takes).

A class-conditional GAN trained on a few images per class makes many images that look like
another class, or like none, under a class's label. Added to a training set they are label noise:
on the imbalanced digits they cost a classifier 13-18 points of balanced accuracy
(benchmarks/RESULTS.md, "Small data"). The filter asks a small classifier trained on the same
reals and keeps an image only when its predicted class is the one it was generated for;
``generate`` draws further seeds until a class has its count or its candidate budget is spent.

The filter trains its own classifier (``train_filter_classifier``) rather than reusing the KID
extractor's: that one samples images uniformly and stops after 200 steps, and on the imbalanced
digits it recognised 6-33 % of the held-out images of the 15-image classes (balanced accuracy
0.52-0.59), so the filter passed the minority classes' images unjudged — the classes whose
generated images matter most. Class-balanced batches and a learning rate decayed to 0 over
``FILTER_STEPS`` steps give 0.93-0.94 there (benchmarks/RESULTS.md, "The filter's classifier").

A class the classifier itself does not recognise among its own reals (recall below
``MIN_RECALL``) is not filtered: rejecting its images would only repeat the classifier's error.
"""
from __future__ import annotations

import numpy as np

from msgan.metrics import classifier as clf
from msgan.metrics.extractor import CLASSIFIER_MAX_RES, shrink

MIN_RECALL = 0.5
FILTER_STEPS = 500      # held-out imbalanced digits: 300 steps gave 0.93 balanced accuracy,
                        # 500 0.94 (two seeds each, benchmarks/bench_filter_classifier.py)


def train_filter_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int,
                            seed: int, mirror: bool, steps: int = FILTER_STEPS):
    """The filter's judge: every class equally often in each batch (a 15-image class is
    learnt next to a 100-image one), learning rate decayed to 0, images at <= 32 px like the
    extractor's, flipped only where the run flips its reals (``data.mirror``)."""
    small = shrink(np.asarray(images), CLASSIFIER_MAX_RES)
    return clf.train_classifier(small, labels, num_classes, seed=seed,
                                batch_size=min(32, len(small)), steps=steps, mirror=mirror,
                                balanced=True, decay=True)


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
