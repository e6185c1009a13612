"""Compare a folder of real images with a folder of generated ones: FID, KID, precision/recall.

KID is the figure to rank snapshots by on small sets: it is unbiased, while FID on ~100 images
is dominated by its sample-size bias and noise. Per-class figures are given when both folders
use class folders (matched by name).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from msgan.errors import MsganError
from msgan.metrics import stats
from msgan.metrics.extractor import ClassifierExtractor
from msgan.metrics.features import FolderImages, generated_root, load_folder, match_classes

EXTRACTORS = ("classifier", "inception")

INCEPTION_NOTE = ("InceptionV3 pool3 features (pytorch-fid weights): comparable with other "
                  "pytorch-fid figures only at similar image counts; FID grows as the count "
                  "shrinks, so with few images rank by KID")


def score_images(real_features, fake_features, kid_subset_size: int = 1000,
                 num_subsets: int = 100, k: int = 3, seed: int = 0) -> dict:
    """FID, KID (mean, std over subsets), precision and recall between two feature arrays.

    A figure that needs more images than there are (2 for FID/KID, k + 1 for precision/recall)
    is None rather than an error, so one small class does not sink a whole report.
    """
    real = np.asarray(real_features, dtype=np.float64)
    fake = np.asarray(fake_features, dtype=np.float64)
    n_real, n_fake = len(real), len(fake)
    out = {"fid": None, "kid": None, "kid_std": None, "precision": None, "recall": None,
           "n_real": n_real, "n_fake": n_fake}
    if min(n_real, n_fake) >= 2:
        out["fid"] = stats.fid(real, fake)
        out["kid"], out["kid_std"] = stats.kid(real, fake, num_subsets, kid_subset_size, seed)
    if min(n_real, n_fake) >= k + 1:
        out["precision"], out["recall"] = stats.precision_recall(real, fake, k)
    return out


def pick_best(scores: dict, metric: str = "kid"):
    """Key of the entry with the lowest finite ``metric`` (e.g. snapshot → scores); None if none."""
    known = {name: s[metric] for name, s in scores.items()
             if s.get(metric) is not None and math.isfinite(s[metric])}
    return min(known, key=known.get) if known else None


def best_snapshot(rows: list) -> Optional[str]:
    """The ``snapshot`` name of the lowest-KID scored row of stats.jsonl; None if none scored.

    A snapshot's scores are in the row of the tick it closed. A snapshot with two rows (files
    of earlier versions, which wrote scores in rows of their own) counts with its last one.
    """
    return pick_best({r["snapshot"]: r for r in rows if r.get("snapshot")}, "kid")


def _classifier_features(real: FolderImages, fake: FolderImages, epochs: int, seed: int,
                         progress: bool):
    """The snapshot scorer's recipe (msgan.metrics.extractor), trained on ``real``."""
    ex = ClassifierExtractor(real.images, real.labels, len(real.classes), epochs, seed,
                             progress=progress, what=real.root)
    # the extractor saw all reals (no subset) in this order: its features are theirs
    real_f = ex.real_features if ex.n_real == len(real.images) else ex.features(real.images,
                                                                                progress)
    return real_f, ex.features(fake.images, progress), ex.info


def _inception_features(real: FolderImages, fake: FolderImages, checkpoint, progress: bool):
    from msgan.metrics import inception
    net = inception.load_inception(checkpoint)
    return (inception.inception_features(net, real.images, progress=progress),
            inception.inception_features(net, fake.images, progress=progress),
            {"note": INCEPTION_NOTE})


def evaluate_folders(real_dir: str, fake_dir: str, extractor: str = "classifier",
                     inception_checkpoint: Optional[str] = None, resolution: int = 64,
                     channels: int = 3, per_class: bool = True, kid_subset_size: int = 1000,
                     num_subsets: int = 100, epochs: int = 30, seed: int = 0,
                     progress: bool = False) -> dict:
    """Score ``fake_dir`` against ``real_dir``; returns a JSON-ready dict.

    Both folders are read at ``resolution`` (what the GAN made), then each extractor sees them
    its own way (Inception: bilinear to 299). ``epochs`` trains the classifier extractor, with
    the same recipe as snapshot scoring; ``progress`` shows bars for each long step.
    """
    if extractor not in EXTRACTORS:
        raise MsganError(f"extractor {extractor!r} is not known — use one of "
                         f"{', '.join(EXTRACTORS)}")
    if kid_subset_size < 2 or num_subsets < 1:
        raise MsganError(f"kid_subset_size must be >= 2 and num_subsets >= 1, got "
                         f"{kid_subset_size} and {num_subsets}")
    if extractor == "inception":
        # Fail before reading any image: the checkpoint is the likeliest thing to be missing.
        from msgan.metrics.inception import check_checkpoint_path
        check_checkpoint_path(inception_checkpoint)
    real = load_folder(real_dir, resolution, channels, "real", progress=progress)
    fake = load_folder(generated_root(fake_dir), resolution, channels, "generated",
                       progress=progress)
    classes = match_classes(real, fake)
    if per_class and real.conditional and fake.conditional and not classes["common"]:
        raise MsganError(f"no class folder names are shared by {real.root} "
                         f"({', '.join(real.classes)}) and {fake.root} "
                         f"({', '.join(fake.classes)}) — name the generated class folders like "
                         "the real ones, or pass per_class=False")

    if extractor == "classifier":
        real_f, fake_f, info = _classifier_features(real, fake, epochs, seed, progress)
    else:
        real_f, fake_f, info = _inception_features(real, fake, inception_checkpoint, progress)
    note = info.pop("note")

    def score(r, f):
        return score_images(r, f, kid_subset_size, num_subsets, seed=seed)

    result = {"extractor": extractor, "note": note, "extractor_info": info,
              "resolution": resolution, "channels": channels,
              "kid_subset_size": kid_subset_size, "num_subsets": num_subsets, "seed": seed,
              "overall": score(real_f, fake_f), "per_class": {}, "classes": classes}
    if per_class and classes["common"]:
        for name in classes["common"]:
            r = real_f[real.labels == real.classes.index(name)]
            f = fake_f[fake.labels == fake.classes.index(name)]
            result["per_class"][name] = score(r, f)
    elif per_class:
        layout = {True: "class folders", False: "single-level"}
        result["per_class_note"] = ("per-class figures need class folders on both sides; "
                                    f"real is {layout[real.conditional]}, "
                                    f"generated is {layout[fake.conditional]}")
    return result
