"""The embedded digits: the one data set msgan ships, for demos and tests without downloads.

digits.npz holds scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits" test
set (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0): 1797 greyscale 8×8 images of the digits 0-9, with
the original 0..16 intensities scaled to 0..255 (ink is bright on a black background).
"""
from __future__ import annotations

from importlib import resources
from typing import Tuple

import numpy as np


def load_digits() -> Tuple[np.ndarray, np.ndarray]:
    """uint8 (1797, 8, 8) images in 0..255 and int64 labels 0..9."""
    with resources.as_file(resources.files(__package__) / "digits.npz") as path:
        with np.load(path) as data:
            return data["images"].copy(), data["labels"].astype(np.int64)
