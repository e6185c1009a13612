"""Score snapshots during training (KID, FID, precision/recall) so the end can use the best one.

The feature extractor is prepared once, when training starts, and the real features are cached.
Every snapshot is then scored on the same latents and the same class mix, so differences between
snapshots come from the generator alone.

Extractors:
- ``classifier``: ``msgan.metrics.extractor.ClassifierExtractor``, a small CNN trained on the
  run's reals (their classes, or their rotation without classes); ``msgan evaluate`` uses the
  same recipe, so its KID against the same reals is the same measurement.
- ``inception``: FID InceptionV3 loaded from ``metrics.inception_checkpoint``.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Optional

import numpy as np

from msgan.errors import MsganError
from msgan.inference.latents import z_from_seeds
from msgan.io import write_json
from msgan.metrics import evaluate, stats
from msgan.metrics.extractor import MAX_REAL, MAX_STEPS, ClassifierExtractor

log = logging.getLogger("msgan")

EXTRACTOR_FILE = "metrics_extractor.json"


def class_mix(n: int, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``n`` int32 labels in the proportion of ``labels`` (largest remainders), class order.

    Deterministic, so every snapshot gets exactly the same mix.
    """
    counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes)[:num_classes]
    share = n * counts / max(counts.sum(), 1)
    alloc = np.floor(share).astype(np.int64)
    # Ties go to the lower class index (stable sort), so the result never depends on round-off.
    order = np.argsort(-(share - alloc), kind="stable")
    alloc[order[:n - alloc.sum()]] += 1
    return np.repeat(np.arange(num_classes, dtype=np.int32), alloc)


class SnapshotScorer:
    """Real features prepared once; ``score(sampler)`` rates one generator against them."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, num_classes: int, metrics_cfg,
                 seed: int, out_dir: Optional[str] = None, max_real: int = MAX_REAL,
                 max_steps: int = MAX_STEPS, width: int = 32):
        start = time.time()
        images = np.asarray(images)
        labels = np.asarray(labels, dtype=np.int32).reshape(-1)
        if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(labels):
            raise MsganError(f"snapshot scoring needs uint8 images (N, C, R, R) with one label "
                             f"each, got {images.dtype} {images.shape} and {len(labels)} labels")
        if len(images) < 4:
            raise MsganError(f"snapshot scoring needs at least 4 real images, got {len(images)} "
                             "— add images or set metrics.extractor=none")
        self.cfg = metrics_cfg
        self.num_classes = int(num_classes)
        self.extractor = metrics_cfg.extractor
        # Class proportions come from every real image, not only the cached subset.
        self.class_labels = labels if self.num_classes > 0 else np.zeros(0, np.int32)
        self.info = {"extractor": self.extractor, "n_real": int(min(len(images), max_real)),
                     "seed": int(seed)}

        if self.extractor == "classifier":
            # the recipe msgan evaluate uses too, so its KID is the same measurement
            self._model = ClassifierExtractor(images, labels, self.num_classes,
                                              metrics_cfg.classifier_epochs, seed,
                                              max_real=max_real, max_steps=max_steps,
                                              width=width)
            feats, labels = self._model.real_features, self._model.real_labels
            self.info.update(self._model.info)
        elif self.extractor == "inception":
            from msgan.metrics import inception
            rng = np.random.default_rng(seed)
            if len(images) > max_real:
                keep = np.sort(rng.choice(len(images), max_real, replace=False))
                images, labels = images[keep], labels[keep]
            self._net = inception.load_inception(metrics_cfg.inception_checkpoint)
            feats = inception.inception_features(self._net, images)
            self.info["note"] = evaluate.INCEPTION_NOTE
        else:
            raise MsganError(f"metrics.extractor {self.extractor!r} cannot score snapshots — use "
                             "classifier or inception (none turns scoring off)")
        self.real_features, self.real_labels = feats, labels
        self.info["feature_dim"] = int(feats.shape[1])
        self.info["setup_sec"] = round(time.time() - start, 2)
        log.info("snapshot scoring: %s features of %d reals ready in %.1f s", self.extractor,
                 self.info["n_real"], self.info["setup_sec"])
        if out_dir:
            write_json(os.path.join(out_dir, EXTRACTOR_FILE), self.info)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Features of uint8 (N, C, R, R) images from the extractor the reals went through."""
        if self.extractor == "classifier":
            return self._model.features(images)
        from msgan.metrics import inception
        return inception.inception_features(self._net, images)

    def fake_inputs(self, meta: dict, seed: int = 0) -> tuple:
        """The latents and labels every snapshot is scored on: (z float32, c int32)."""
        n = int(self.cfg.kid_images)
        g_classes = int(meta.get("num_classes", 0))
        if g_classes and g_classes != self.num_classes:
            raise MsganError(f"the generator has {g_classes} classes but the reals have "
                             f"{self.num_classes} — score a generator trained on these reals")
        if g_classes:
            c = class_mix(n, self.class_labels, self.num_classes)
        else:
            c = np.zeros(n, np.int32)
        z = z_from_seeds(range(seed, seed + n), int(meta["z_dim"]), meta.get("z_dist", "gaussian"))
        return z, c

    def score(self, sampler, seed: int = 0, psi: float = 1.0) -> dict:
        """{"kid", "kid_std", "fid", "precision", "recall", "n_fake", "n_real"}; None where a
        figure needs more images than there are. Same ``seed`` → same latents and KID subsets."""
        z, c = self.fake_inputs(sampler.meta, seed)
        fakes = self.features(sampler(z, c, psi))
        result = evaluate.score_images(self.real_features, fakes, seed=seed)
        out = {k: result[k] for k in ("kid", "kid_std", "fid", "precision", "recall",
                                       "n_fake", "n_real")}
        if self.num_classes >= 2:
            names = sampler.meta.get("classes") or [str(k) for k in range(self.num_classes)]
            out["kid_per_class"] = self.kid_per_class(fakes, c, names, seed)
        return out

    def kid_per_class(self, fake_features, fake_labels, classes, seed: int = 0) -> dict:
        """{class: KID of its generated images against its reals} (None below 2 of either):
        a class the generator has not learnt stands out here even when the overall KID is low."""
        out = {}
        for k, name in enumerate(classes):
            real = self.real_features[self.real_labels == k]
            fake = fake_features[fake_labels == k]
            out[name] = (stats.kid(real, fake, seed=seed)[0]
                         if min(len(real), len(fake)) >= 2 else None)
        return out
