"""Embedded demo data, so that ``data.path=builtin:digits`` trains without downloading anything.

digits.npz holds scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits" test
set (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0): 1797 greyscale 8×8 images of the digits 0-9, with
the original 0..16 intensities scaled to 0..255 (ink is bright on a black background).
The images are written out once as a class-folder tree of PNGs so that they go through exactly
the same scan/validate/load path as user data.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from typing import Tuple

import numpy as np
from PIL import Image

from msgan.errors import MsganError

BUILTIN = ("digits", "digits-paired", "digits-unpaired", "digits-sr")  # see builtin_pairs.py
_PREFIX = "builtin:"
_DONE = ".complete"   # hidden marker, so scan_folder never sees it


def load_digits() -> Tuple[np.ndarray, np.ndarray]:
    """uint8 (1797, 8, 8) images in 0..255 and int64 labels 0..9."""
    with resources.as_file(resources.files(__package__) / "digits.npz") as path:
        with np.load(path) as data:
            return data["images"].copy(), data["labels"].astype(np.int64)


def _complete(folder: str, labels: np.ndarray) -> bool:
    if not os.path.isfile(os.path.join(folder, _DONE)):
        return False
    for c, n in enumerate(np.bincount(labels)):
        sub = os.path.join(folder, str(c))
        if not os.path.isdir(sub) or sum(f.endswith(".png") for f in os.listdir(sub)) != n:
            return False
    return True


def _materialise_digits(cache_dir: str) -> str:
    images, labels = load_digits()
    final = os.path.join(cache_dir, "builtin_digits")
    if _complete(final, labels):
        return final
    os.makedirs(cache_dir, exist_ok=True)
    # Build in a private folder and rename it into place: two processes (e.g. distributed
    # ranks) starting at once can neither see nor produce a half-written tree.
    tmp = tempfile.mkdtemp(prefix=".builtin_digits.", dir=cache_dir)
    os.chmod(tmp, 0o755)   # mkdtemp makes it private; the data is not
    try:
        for c in range(10):
            os.makedirs(os.path.join(tmp, str(c)))
        for i, (img, c) in enumerate(zip(images, labels)):
            Image.fromarray(img, "L").save(os.path.join(tmp, str(int(c)), f"{i:04d}.png"))
        with open(os.path.join(tmp, _DONE), "w") as f:
            f.write(f"{len(images)}\n")
        if os.path.isdir(final) and not _complete(final, labels):
            shutil.rmtree(final)   # a partial tree from an older, interrupted version
        try:
            os.rename(tmp, final)
        except OSError:
            if not _complete(final, labels):   # someone else won the race: use theirs
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return final


def resolve_data_path(path: str, cache_dir: str) -> str:
    """``builtin:<name>`` → a folder of PNGs under ``cache_dir``; any other path unchanged."""
    if not path.startswith(_PREFIX):
        return path
    name = path[len(_PREFIX):]
    if name == "digits":
        return _materialise_digits(cache_dir)
    if name in BUILTIN:
        from msgan.data import builtin_pairs
        return builtin_pairs.materialise(name, cache_dir)
    raise MsganError(f"unknown built-in data set {path!r} — available: "
                     f"{', '.join(_PREFIX + b for b in BUILTIN)}")
