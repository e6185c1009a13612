"""How many images to generate per class, optionally filling small classes up to a target.

Balancing treats the generated images as additions to the reals: with it on, a class that
already has ``target`` real images gets none, a class with 10 gets ``target - 10``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

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


def balance_counts(class_counts: dict, generate_num: int, balance: bool,
                   target_per_class: Optional[int] = None) -> dict:
    """Images to generate per class, for every class in ``class_counts`` (its order kept).

    ``balance`` off: ``generate_num`` for each class. On: ``max(0, target - count)`` with
    ``target = target_per_class`` or, when that is None, the largest class's count.
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
    target = target_per_class if target_per_class is not None else max(class_counts.values(),
                                                                       default=0)
    return {name: max(0, int(target) - int(n)) for name, n in class_counts.items()}
