"""A small CNN classifier trained on the user's own class folders.

It serves twice: its penultimate (global-pool) features are a feature extractor that needs no
download, and it is the classifier of the augmentation-benefit report. Features from a network
trained on one dataset mean nothing on another, so figures from it are only comparable within
one dataset (same real folder, same resolution, same seed).

Training is fully seeded: weights are drawn from numpy, batches and flips from a numpy
Generator, so the same seed gives the same model without touching MindSpore's global seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from msgan.errors import MsganError
from msgan.progress import Bar

COMPARABILITY_NOTE = ("features come from a small CNN trained on this real dataset: figures are "
                      "comparable only between evaluations against the same real folder, "
                      "resolution and seed, never with published FID/KID or other datasets")


def _conv_bn_relu(cin, cout, stride):
    return [nn.Conv2d(cin, cout, 3, stride, pad_mode="pad", padding=1, has_bias=False),
            nn.BatchNorm2d(cout), nn.ReLU()]


class SmallCNN(nn.Cell):
    """conv-BN-ReLU ×3 (strides 1, 2, 2) → global average pool (4·width features) → dense."""

    def __init__(self, channels: int, num_classes: int, width: int = 32):
        super().__init__()
        self.body = nn.SequentialCell(_conv_bn_relu(channels, width, 1)
                                      + _conv_bn_relu(width, 2 * width, 2)
                                      + _conv_bn_relu(2 * width, 4 * width, 2))
        self.head = nn.Dense(4 * width, num_classes)

    def embed(self, x):
        return self.body(x).mean(axis=(2, 3))

    def construct(self, x):
        return self.head(self.embed(x))


def _init_weights(net, rng: np.random.Generator) -> None:
    for p in net.trainable_params():
        shape = tuple(p.shape)
        if len(shape) > 1:   # conv / dense weights: He normal
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        elif p.name.endswith("gamma"):
            value = np.ones(shape)
        else:
            value = np.zeros(shape)
        p.set_data(ms.Tensor(value.astype(np.float32)))


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 NCHW → float32 in [-1, 1] (the range GANs here produce)."""
    return np.asarray(images, dtype=np.float32) / 127.5 - 1.0


@dataclass
class Classifier:
    """A trained SmallCNN and its compiled inference function (compiled once, in eval mode)."""
    net: object
    channels: int
    resolution: int
    num_classes: int
    batch_size: int
    _infer: object = field(default=None, repr=False)

    def infer(self, images: np.ndarray, progress: bool = False):
        """uint8 (N, C, R, R) → (features (N, F) float64, logits (N, K) float64)."""
        images = np.asarray(images)
        expected = (self.channels, self.resolution, self.resolution)
        if images.ndim != 4 or images.shape[1:] != expected:
            raise MsganError(f"the classifier was trained on {self.channels}×{self.resolution}×"
                             f"{self.resolution} images, got {images.shape[1:]} — load images at "
                             "the same resolution and channels")
        if self._infer is None:
            net = self.net
            net.set_train(False)

            @ms.jit
            def infer(x):
                f = net.embed(x)
                return f, net.head(f)
            self._infer = infer
        feats, logits = [], []
        b = self.batch_size
        for s in Bar(range(0, len(images), b), desc="features", unit="batch",
                     disable=not progress):
            x = to_input(images[s:s + b])
            n = len(x)
            if n < b:   # fixed batch shape: one compile
                x = np.concatenate([x, np.zeros((b - n,) + x.shape[1:], np.float32)])
            f, lg = self._infer(ms.Tensor(x))
            feats.append(f.asnumpy()[:n])
            logits.append(lg.asnumpy()[:n])
        return np.concatenate(feats).astype(np.float64), np.concatenate(logits).astype(np.float64)


def cosine_rates(lr: float, steps: int) -> np.ndarray:
    """The learning rate of each step, from ``lr`` down towards 0 along a half cosine."""
    t = np.arange(steps) / max(steps, 1)
    return (lr * 0.5 * (1 + np.cos(np.pi * t))).astype(np.float32)


def batch_indices(labels: np.ndarray, b: int, rng: np.random.Generator, balanced: bool):
    """Endless batches of ``b`` indices: epochs of random permutations back to back (a batch
    may span two), or with ``balanced`` each index's class drawn uniformly among the classes
    present, then an image of that class at random."""
    if balanced:
        members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        while True:
            yield np.array([m[rng.integers(len(m))] for m in
                            (members[i] for i in rng.integers(len(members), size=b))])
    order = np.empty(0, dtype=np.int64)
    while True:
        if len(order) < b:
            order = np.concatenate([order, rng.permutation(len(labels))])
        idx, order = order[:b], order[b:]
        yield idx


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int = 30,
                     seed: int = 0, batch_size: int = 32, lr: float = 2e-3, steps: int = None,
                     mirror: bool = True, width: int = 32, balanced: bool = False,
                     decay: bool = False, progress: bool = False,
                     desc: str = "training the feature classifier", bar=None) -> Classifier:
    """Train a SmallCNN on uint8 (N, C, R, R) images with int labels in [0, num_classes).

    ``steps`` (optimizer steps) overrides ``epochs`` so two training sets of different size can
    get the same training budget. ``mirror`` adds random horizontal flips. ``balanced`` draws
    every batch class by class (each class equally often, images within a class at random), so
    a 15-image class is learnt next to a 100-image one. ``decay`` lowers the learning rate to 0
    along a cosine over the steps: a short budget then ends converged instead of mid-step.
    ``progress`` shows a bar named ``desc``; ``bar`` (a msgan.progress.Bar) is advanced instead,
    one step at a time, for a caller that trains several classifiers under one bar.
    """
    images = np.asarray(images)
    labels = np.asarray(labels, dtype=np.int32)
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[2] != images.shape[3]:
        raise MsganError(f"classifier training needs square uint8 images (N, C, R, R), got "
                         f"{images.dtype} {images.shape} — load them with msgan's loaders")
    if len(images) != len(labels) or len(images) < 2:
        raise MsganError(f"classifier training needs at least 2 images with one label each, got "
                         f"{len(images)} images and {len(labels)} labels — add images")
    if num_classes < 2 or labels.min() < 0 or labels.max() >= num_classes:
        raise MsganError(f"classifier training needs labels in [0, {num_classes}) and at least "
                         "2 classes — use a class-folder layout with two or more classes")
    rng = np.random.default_rng(seed)
    n, channels, resolution = len(images), images.shape[1], images.shape[2]
    b = min(batch_size, n)
    net = SmallCNN(channels, num_classes, width)
    _init_weights(net, rng)
    total = steps if steps is not None else epochs * -(-n // b)
    opt = nn.Adam(net.trainable_params(),
                  learning_rate=ms.Tensor(cosine_rates(lr, total)) if decay else lr)

    def loss_fn(x, y):
        return ops.cross_entropy(net(x), y)

    grad_fn = ms.value_and_grad(loss_fn, None, opt.parameters)

    @ms.jit
    def train_step(x, y):
        loss, grads = grad_fn(x, y)
        opt(grads)
        return loss

    net.set_train(True)
    batches = batch_indices(labels, b, rng, balanced)
    steps = range(total) if bar is not None else Bar(range(total), desc=desc, unit="step",
                                                      disable=not progress, warmup=True)
    for _ in steps:
        idx = next(batches)
        x = to_input(images[idx])
        if mirror:
            flip = rng.random(b) < 0.5
            x[flip] = x[flip, :, :, ::-1]
        train_step(ms.Tensor(x), ms.Tensor(labels[idx]))
        if bar is not None:
            bar.update(1)
    net.set_train(False)
    return Classifier(net, channels, resolution, num_classes, batch_size=b)


def extract_features(model: Classifier, images: np.ndarray) -> np.ndarray:
    """Penultimate (global-pool) features, (N, 4·width) float64."""
    return model.infer(images)[0]


def predict(model: Classifier, images: np.ndarray) -> np.ndarray:
    return model.infer(images)[1].argmax(axis=1).astype(np.int32)


def accuracy(model: Classifier, images: np.ndarray, labels: np.ndarray) -> float:
    return float((predict(model, images) == np.asarray(labels)).mean())


def balanced_accuracy(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> tuple:
    """Mean of per-class recalls over the classes present in ``labels``; also the per-class list
    (nan for a class without samples)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    per_class = np.full(num_classes, np.nan)
    for c in range(num_classes):
        mask = labels == c
        if mask.any():
            per_class[c] = float((predictions[mask] == c).mean())
    return float(np.nanmean(per_class)), per_class
