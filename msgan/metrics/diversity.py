"""Do a class's generated images vary as much as its reals, or did G collapse onto one look?

A class-conditional GAN trained on 15 images of a class can make every image of that class
alike: on the crops6-tiles set (benchmarks/RESULTS.md, "Sets not tuned on") every generated
"camera" crop was the photograph's dark coat, none its sky, grass or tripod; on colour6-tiles
every "rocket" crop was blue sky. A classifier of the reals still sees the class in each image
(no other class is that dark, or that blue), so the class filter keeps them all. Such images add
no looks to the class, and the user should be told.

The measure is the ratio of mean pairwise distances, generated over real, within one class. A
mean over pairs does not depend on how many images there are (a nearest-neighbour measure such as
coverage does, and with 15 reals its radius was wide enough to call the collapsed camera class
fully covered, see RESULTS.md "Collapsed classes"). Images are compared coarsely, averaged down
to COARSE px: a collapse is one of layout and colour, which 8 px keeps (on crops6-tiles every
class's ratio at 32 px was within 0.05 of its ratio at 8 px), and the distances of pixel noise
between two crops of one texture, which say nothing about collapse, mostly average out.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

from msgan.metrics.extractor import shrink

COARSE = 8
COLLAPSED = 0.5         # below this ratio a run warns that G makes one look for the class: the
                        # collapsed camera and rocket classes were 0.36-0.39, every other class
                        # of three sets 0.69-1.02 (benchmarks/RESULTS.md, "Collapsed classes")
MAX_IMAGES = 500        # beyond this, the pairs of a random subset (125k pairs; the full
                        # matrix of 5000 images would take 200 MB)


def coarse(images: np.ndarray) -> np.ndarray:
    """uint8 (N, C, R, R) -> float (N, C * s * s) in [0, 1], s = min(R, COARSE)."""
    return shrink(np.asarray(images), COARSE).reshape(len(images), -1).astype(np.float64) / 255.0


def mean_pairwise_distance(images: np.ndarray, seed: int = 0) -> float:
    """Mean Euclidean distance over all pairs of ``images`` (uint8 (N, C, R, R)), coarsened."""
    images = np.asarray(images)
    if len(images) > MAX_IMAGES:
        images = images[np.sort(np.random.default_rng(seed).choice(len(images), MAX_IMAGES,
                                                                   replace=False))]
    x = coarse(images)
    if len(x) < 2:
        return 0.0
    # scipy's pdist takes the differences themselves: the Gram-matrix shortcut left ~1e-7
    # between identical images, depending on the BLAS's summation order
    return float(pdist(x).mean())


def spread(real: np.ndarray) -> float | None:
    """The reals' mean pairwise distance, or None where no ratio can be taken against it
    (fewer than 2 images, or all alike)."""
    if len(real) < 2:
        return None
    d = mean_pairwise_distance(real)
    return d if d > 1e-6 else None


def ratio_to(real_spread: float | None, generated: np.ndarray) -> float | None:
    """Mean pairwise distance of ``generated`` over ``real_spread`` (``spread`` of the class's
    reals, computed once per class); None where it cannot be judged."""
    if real_spread is None or len(generated) < 2:
        return None
    return mean_pairwise_distance(generated) / real_spread
