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

``min_confidence`` (generate.filter_confidence, off) also refuses an image whose class the
classifier prefers by a small margin. It made the kept images more recognisable (0.998 on
crops6-tiles) and a classifier trained with them worse (0.4-1.3 points; benchmarks/RESULTS.md
"How many images"): the images a classifier is surest of teach it least.

The filter judges one image at a time, so it passes a class whose images are all one look of
it (the classifier sees the class in each). ``keep_class`` judges a class's kept images
together (``msgan.metrics.diversity``): the report warns when they vary less than ``COLLAPSED``
times as much as the class's reals, and none is written below ``min_diversity`` (off by
default: withholding the collapsed class did not change a classifier's balanced accuracy,
benchmarks/RESULTS.md "Collapsed classes").
"""
from __future__ import annotations

import logging
import os

import numpy as np

from msgan.errors import MsganError
from msgan.io import update_json
from msgan.metrics import classifier as clf
from msgan.metrics.diversity import COLLAPSED, ratio_to, spread
from msgan.metrics.extractor import CLASSIFIER_MAX_RES, shrink

log = logging.getLogger("msgan")

MIN_RECALL = 0.5
FILTER_STEPS = 500      # held-out imbalanced digits: 300 steps gave 0.93 balanced accuracy,
                        # 500 0.94 (two seeds each, benchmarks/bench_filter_classifier.py)


def train_filter_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int,
                            seed: int, mirror: bool, steps: int = FILTER_STEPS,
                            progress: bool = False):
    """The filter's judge: every class equally often in each batch (a 15-image class is
    learnt next to a 100-image one), learning rate decayed to 0, images at <= 32 px like the
    extractor's, flipped only where the run flips its reals (``data.mirror``)."""
    small = shrink(np.asarray(images), CLASSIFIER_MAX_RES)
    return clf.train_classifier(small, labels, num_classes, seed=seed,
                                batch_size=min(32, len(small)), steps=steps, mirror=mirror,
                                balanced=True, decay=True, progress=progress,
                                desc="training the filter's classifier")


class ClassFilter:
    """``accept(images, k)`` → bool mask: which uint8 (N, C, R, R) images look like class k."""

    def __init__(self, model, images: np.ndarray, labels: np.ndarray, classes,
                 min_diversity: float = 0.0, min_confidence: float = 0.0):
        self.model = model
        self.classes = list(classes)
        self.min_diversity = float(min_diversity)
        self.min_confidence = float(min_confidence)
        labels = np.asarray(labels).reshape(-1)
        predicted = self._predict(images)
        self.recall = {}
        self._spread, self._n_real = {}, {}     # per class: reals' spread, their number
        for k, name in enumerate(self.classes):
            mine = labels == k
            self.recall[name] = float((predicted[mine] == k).mean()) if mine.any() else 0.0
            self._spread[k] = spread(np.asarray(images)[mine])
            self._n_real[name] = int(mine.sum())
        self.unfiltered = [c for c, r in self.recall.items() if r < MIN_RECALL]
        self.diversity = {}

    def _logits(self, images: np.ndarray) -> np.ndarray:
        return self.model.infer(shrink(np.asarray(images), CLASSIFIER_MAX_RES))[1]

    def _predict(self, images: np.ndarray) -> np.ndarray:
        return self._logits(images).argmax(1)

    def accept(self, images: np.ndarray, k: int) -> np.ndarray:
        """Its class is the classifier's first choice and, with ``min_confidence``, has at
        least that softmax probability (an image between two classes is refused)."""
        if self.classes[k] in self.unfiltered:
            return np.ones(len(images), bool)
        logits = self._logits(images)
        ok = logits.argmax(1) == k
        if self.min_confidence > 0:
            z = np.exp(logits - logits.max(1, keepdims=True))
            ok &= z[:, k] / z.sum(1) >= self.min_confidence
        return ok

    def keep_class(self, images: np.ndarray, k: int) -> bool:
        """False when class k's kept images vary less than ``min_diversity`` x its reals (the
        ratio is kept for the report; a class it cannot judge is kept)."""
        ratio = ratio_to(self._spread[k], images)
        self.diversity[self.classes[k]] = ratio
        return ratio is None or ratio >= self.min_diversity

    def report(self, tally: dict, out_dir: str, tries: int) -> None:
        """What the filter kept, per class, in the log and ``out_dir``/quality.json; loud where a
        class got fewer images than asked (its images mostly look like another class)."""
        asked = sum(t["asked"] for t in tally.values())
        kept = sum(t["kept"] for t in tally.values())
        tried = sum(t["tried"] for t in tally.values())
        log.info("generate.filter=classifier kept %d of %d generated images (%d asked): an image "
                 "is kept when a classifier of your reals sees its class in it%s", kept, tried,
                 asked, f" with at least {self.min_confidence:g} probability"
                 if self.min_confidence > 0 else "")
        dropped = {c: t for c, t in tally.items() if t.get("dropped")}
        if dropped:
            log.warning("WARNING: no images written for %s: the generator makes one look for "
                        "these classes (their images vary less than generate.min_diversity=%g "
                        "times as much as their reals: they add no looks to the class) — add "
                        "real images or train longer (generate.min_diversity=0 writes them "
                        "anyway)",
                        ", ".join(f"{c} ({self.diversity[c]:.2f}x, {t['dropped']} images, "
                                  f"{self._n_real[c]} reals)"
                                  for c, t in dropped.items()), self.min_diversity)
        alike = {c: r for c, r in self.diversity.items()
                 if r is not None and r < COLLAPSED and c not in dropped}
        if alike:
            log.warning("WARNING: the images of %s are mostly one look: they vary less than %g "
                        "times as much as their reals (the generator collapsed on these "
                        "classes; samples/ shows it) — add real images or train longer; "
                        "generate.min_diversity=%g writes no images for such a class",
                        ", ".join(f"{c} ({r:.2f}x, {self._n_real[c]} reals)"
                                  for c, r in alike.items()), COLLAPSED, COLLAPSED)
        # a class that got none is said once, with its reason, by inference.empty_classes
        short = {c: t for c, t in tally.items()
                 if 0 < t["kept"] < t["asked"] and c not in dropped}
        if short:
            log.warning("WARNING: fewer images than asked for %s: most of what the generator "
                        "makes for these classes looks like another class to a classifier of "
                        "your reals%s — train longer or add real images (generate.filter=none "
                        "writes them all)", ", ".join(f"{c} ({t['kept']} of {t['asked']}, "
                                                     f"{t['tried']} tried)"
                                                     for c, t in short.items()),
                        f", or is not its class with {self.min_confidence:g} probability "
                        "(generate.filter_confidence)" if self.min_confidence > 0 else "")
        if self.unfiltered:
            log.info("not filtered: %s (the classifier recognises fewer than %d%% of their own "
                     "reals, so it cannot judge them)", ", ".join(self.unfiltered),
                     round(MIN_RECALL * 100))
        update_json(os.path.join(out_dir, "quality.json"), "class_filter",
                    {"filter": "classifier", "tries": tries, "min_recall": MIN_RECALL,
                     "classifier_recall_on_reals": self.recall, "unfiltered": self.unfiltered,
                     "min_confidence": self.min_confidence,
                     "min_diversity": self.min_diversity, "diversity_ratio": self.diversity,
                     "collapsed_below": COLLAPSED, "collapsed": sorted(alike),
                     "not_written": sorted(dropped), "per_class": tally})


def filter_for_model(reals_dir: str, meta: dict, seed: int = 0, mirror: bool = False,
                     min_diversity: float = 0.0, min_confidence: float = 0.0):
    """A ClassFilter for a trained model's images, judged by a classifier of ``reals_dir`` (the
    class folder the model was trained on): predict mode and ``msgan generate --reals``, where
    the training run's own reals are not at hand. ``meta`` is the model's (snapshot or export);
    the folder must hold exactly its classes."""
    from msgan.metrics.features import load_folder
    classes = list(meta.get("classes") or [])
    if len(classes) < 2:
        raise MsganError("the model has no classes, so there is nothing to filter its images "
                         "by — generate without the filter")
    reals = load_folder(reals_dir, int(meta["resolution"]), int(meta["channels"]), what="reals")
    if sorted(reals.classes) != sorted(classes):
        missing = [c for c in classes if c not in reals.classes]
        extra = [c for c in reals.classes if c not in classes]
        raise MsganError(f"reals folder {reals_dir} does not hold the model's classes "
                         f"(missing: {', '.join(missing) or '-'}; not in the model: "
                         f"{', '.join(extra) or '-'}) — point it at the class folder the model "
                         "was trained on, or write unfiltered images (generate.filter=none)")
    to_model = np.array([classes.index(c) for c in reals.classes], np.int32)
    return trained_filter(reals.images, to_model[reals.labels], classes, seed, mirror,
                          f"the {len(reals.labels)} reals in {reals_dir}", min_diversity,
                          min_confidence)


def trained_filter(images: np.ndarray, labels: np.ndarray, classes, seed: int, mirror: bool,
                   reals: str = "your reals", min_diversity: float = 0.0,
                   min_confidence: float = 0.0, progress: bool = True) -> ClassFilter:
    """generate.filter's judge: train its classifier on ``images`` (class-balanced, FILTER_STEPS
    steps: under a minute on a CPU) and wrap it; ``reals`` names them in the log."""
    log.info("training a classifier of %s for generate.filter (%d steps, every class equally "
             "often)", reals, FILTER_STEPS)
    model = train_filter_classifier(images, labels, len(classes), seed, mirror,
                                    progress=progress)
    return ClassFilter(model, images, labels, classes, min_diversity, min_confidence)
