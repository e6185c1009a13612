"""What D sees, augmented, for every model that asks (``model.augment``).

``diffaug.py``: DiffAugment's colour + translation + cutout (Zhao et al. 2020).
``ada.py``: SG2A's augment pipe and the adaptive p controller (Karras et al. 2020).
Both are Cells with ``apply(images, p, rand)``; ``rand`` is drawn on the host (``draw(rng, n)``)
so a resumed run repeats the uninterrupted one.
"""
from __future__ import annotations

from msgan.augment import ada, diffaug


def build(mode: str, resolution: int, channels: int):
    """(the Cell that augments what D sees; the host-side draw of its ``rand``), or (None, None)
    for ``none``."""
    if mode == "diffaug":
        return diffaug.DiffAugment(resolution, channels), diffaug.draw_random
    if mode == "ada":
        return ada.AugmentPipe(resolution, channels), ada.draw_random
    return None, None
