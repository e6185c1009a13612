"""How many images to generate per class, optionally filling small classes up to a target.

Balancing treats the generated images as additions to the reals: with it on, a class that
already has ``target`` real images gets none, a class with 10 gets ``target - 10``.

``generate.balance: auto`` (the default) balances only an imbalanced folder. Measured
(benchmarks/RESULTS.md, "How many images, and for which classes"): on two photo-crop sets with
100 and 15 images per class, generated images for the large classes widened those classes over
the small classes' held-out images, and giving images to the small classes only was 0.8-1.6
and 1.9-2.4 points of balanced accuracy better (two GAN seeds each); on imbalanced digits it
was 1.5 worse. A balanced folder has no small class to fill, so there every class gets
``generate_num``.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from msgan.data.validate import IMBALANCED, is_imbalanced
from msgan.errors import MsganError


def count_labels(labels, classes: Sequence[str]) -> dict:
    """{class name: number of real images}, every class present (0 where it has none)."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise MsganError(f"labels must index the {len(classes)} classes, got "
                         f"{labels.min()}..{labels.max()} — pass the labels that belong to "
                         "these class names")
    counts = np.bincount(labels, minlength=len(classes))
    return {str(name): int(counts[k]) for k, name in enumerate(classes)}


def decide_balance(class_counts: dict, balance: Union[bool, str],
                   min_class_images: int = 0) -> tuple:
    """(balance on?, why, for the log). ``auto`` is on when the largest class has at least
    ``IMBALANCED`` times the images of the smallest class that gets images at all (classes
    below ``min_class_images`` get none, so they do not make a folder imbalanced)."""
    if balance is True or balance is False:
        return balance, f"generate.balance={str(balance).lower()}"
    if balance != "auto":
        raise MsganError(f"generate.balance is {balance!r} — use auto, true or false")
    sizes = [n for n in class_counts.values() if n >= max(min_class_images, 1)]
    if len(sizes) < 2:
        return False, "generate.balance=auto: fewer than two classes to compare"
    ratio = max(sizes) / min(sizes)
    on = is_imbalanced(sizes)
    return on, (f"generate.balance=auto: the classes have {min(sizes)} to {max(sizes)} images "
                f"({ratio:.1f}x, {'at least' if on else 'below'} {IMBALANCED:g}x), so "
                + ("only the smaller classes get images, up to the largest class's count "
                   "(generate.balance=false gives every class generate_num)" if on else
                   "every class gets generate_num"))


def balance_counts(class_counts: dict, generate_num: int, balance: bool,
                   target_per_class: Optional[int] = None) -> dict:
    """Images to generate per class, for every class in ``class_counts`` (its order kept).

    ``balance`` off: ``generate_num`` for each class. On: ``target - count``, at least 0, with
    ``target = target_per_class``; without one, up to the largest class's count and at most
    ``generate_num`` per class (3000 images for a 15-image class would bury its reals: 300 per
    class already helped less than 100 on the digits, benchmarks/RESULTS.md).
    """
    if generate_num is None or generate_num < 0:
        raise MsganError(f"generate.generate_num is {generate_num} — use 0 or more")
    if target_per_class is not None and target_per_class <= 0:
        raise MsganError(f"generate.target_per_class is {target_per_class} — use a number > 0, "
                         "or leave it empty to fill up to the largest class")
    for name, n in class_counts.items():
        if n is None or n < 0:
            raise MsganError(f"class {name!r} has {n} images — counts must be 0 or more")
    if not balance:
        return {name: int(generate_num) for name in class_counts}
    if target_per_class is not None:
        return {name: max(0, int(target_per_class) - int(n)) for name, n in class_counts.items()}
    largest = max(class_counts.values(), default=0)
    return {name: min(int(generate_num), max(0, largest - int(n)))
            for name, n in class_counts.items()}


def generation_counts(class_counts: dict, g) -> tuple:
    """generate.* (``g``: balance, generate_num, target_per_class, min_class_images) applied
    to the class sizes: (images per class, a log line saying which count and why)."""
    on, why = decide_balance(class_counts, g.balance, g.min_class_images)
    counts = balance_counts(class_counts, g.generate_num, on, g.target_per_class)
    return counts, f"{why} — images per class: " + ", ".join(f"{c} {n}"
                                                              for c, n in counts.items())
