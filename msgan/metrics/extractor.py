"""The ``classifier`` feature extractor of msgan's KID/FID: one recipe for the snapshot scores a
run logs in ``stats.jsonl`` and for ``msgan evaluate``, so the two are the same measurement.

Given the same reals (images and labels, in the same order), resolution and seed, it trains the
same network and gives the same features. Feature spaces of two differently trained networks
have different scales, which is why KIDs from two recipes cannot be compared at all.

- 2+ classes: the small CNN of ``msgan.metrics.classifier`` trained to tell the classes apart.
- fewer: the same CNN trained on a self-supervised proxy, predicting which of 0/90/180/270
  degrees a real image was rotated by (Gidaris et al. 2018). Telling upright from rotated needs
  features of shape and layout, which is what a bad generator gets wrong; on data that looks the
  same at every rotation (textures) those features are weak and KID separates generators less.

Images are average-pooled to at most ``CLASSIFIER_MAX_RES`` pixels and training stops after at
most ``MAX_STEPS`` steps, so it stays cheap inside a training run; it judges colour, shape and
class, not fine texture. Figures are comparable only against the same reals, resolution and
seed, never with published FID/KID or between datasets.
"""
from __future__ import annotations

import math

import numpy as np

from msgan.errors import MsganError
from msgan.metrics import classifier as clf

CLASSIFIER_MAX_RES = 32
MAX_REAL = 2000          # reals the extractor is trained on (a seeded random subset)
MAX_STEPS = 200          # classifier optimizer steps at most, whatever the epochs ask
MIN_REAL = 4

ROTATION_NOTE = ("features come from a small CNN trained on these reals to predict their "
                 "rotation (the data has no classes to learn): figures are comparable only "
                 "against the same reals, resolution and seed, never with published FID/KID "
                 "or other datasets")


SHRINK_CHUNK = 1024


def shrink(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, C, R, R) → (N, C, s, s), s = min(R, size), by averaging whole pixel blocks."""
    r = images.shape[2]
    if r <= size:
        return images
    if r % size:
        raise MsganError(f"resolution {r} is not a multiple of {size} — use a power-of-two "
                         "resolution")
    f = r // size
    n, c = images.shape[:2]
    out = np.empty((n, c, size, size), np.uint8)
    # A chunk at a time: a float copy of every image at once would need 4x the reals' memory
    # (and the reals of a large folder are mapped from disk, not in memory; docs/large-folders.md).
    for i in range(0, n, SHRINK_CHUNK):
        part = np.asarray(images[i:i + SHRINK_CHUNK])
        blocks = part.reshape(len(part), c, size, f, size, f).astype(np.float32).mean(axis=(3, 5))
        out[i:i + len(part)] = np.rint(blocks).astype(np.uint8)
    return out


def rotations(images: np.ndarray) -> tuple:
    """Every image at 0, 90, 180 and 270 degrees, with the quarter-turn count as its label."""
    rotated = [np.rot90(images, k, axes=(2, 3)) for k in range(4)]
    labels = np.repeat(np.arange(4, dtype=np.int32), len(images))
    return np.ascontiguousarray(np.concatenate(rotated)), labels


class ClassifierExtractor:
    """Trained once on the reals; ``features(images)`` maps any images into its feature space.

    ``real_features`` are those of the reals it was trained on (all of them, or a seeded subset
    of ``max_real``); ``info`` describes the training (task, steps, resolution, accuracy).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int,
                 seed: int, max_real: int = MAX_REAL, max_steps: int = MAX_STEPS,
                 width: int = 32, progress: bool = False, what: str = "the reals"):
        images = np.asarray(images)
        labels = np.asarray(labels, dtype=np.int32).reshape(-1)
        if len(images) < MIN_REAL:
            raise MsganError(f"the classifier feature extractor needs at least {MIN_REAL} real "
                             f"images, {what} have {len(images)} — add images")
        rng = np.random.default_rng(seed)
        if len(images) > max_real:
            keep = np.sort(rng.choice(len(images), max_real, replace=False))
            images, labels = images[keep], labels[keep]
        small = shrink(images, CLASSIFIER_MAX_RES)
        if num_classes >= 2:
            task, x, y, k, mirror = "classes", small, labels, num_classes, True
            note = clf.COMPARABILITY_NOTE
        else:
            x, y = rotations(small)
            # A mirrored 90-degree turn is a 270-degree turn of the mirrored image: no flips.
            task, k, mirror, note = "rotation", 4, False, ROTATION_NOTE
        batch = min(32, len(x))
        steps = min(int(epochs) * math.ceil(len(x) / batch), max_steps)
        self.model = clf.train_classifier(x, y, k, seed=seed, batch_size=batch, steps=steps,
                                          mirror=mirror, width=width, progress=progress)
        feats, logits = self.model.infer(small, progress=progress)
        target = labels if task == "classes" else np.zeros_like(labels)
        self.real_features = feats
        self.real_labels = labels          # of the cached features (per-class scores)
        self.n_real = len(images)
        self.info = {"task": task, "note": note, "classifier_resolution": int(small.shape[2]),
                     "classifier_steps": int(steps),
                     # training-set accuracy: a sanity check that the features learned something
                     "accuracy_on_reals": float((logits.argmax(1) == target).mean())}

    def features(self, images: np.ndarray, progress: bool = False) -> np.ndarray:
        """Features of uint8 (N, C, R, R) images at the resolution the reals had."""
        return self.model.infer(shrink(np.asarray(images), CLASSIFIER_MAX_RES),
                                progress=progress)[0]
