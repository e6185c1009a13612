"""Embedded demo data, so that ``data.path=builtin:digits`` trains without downloading anything.

The digits (digits.py) are written out once as a class-folder tree of PNGs so that they go
through exactly the same scan/validate/load path as user data; the image-to-image sets are
made from them by builtin_pairs.py.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from msgan.data import builtin_pairs
from msgan.data.digits import load_digits
from msgan.errors import MsganError

BUILTIN = ("digits",) + builtin_pairs.SETS
_PREFIX = "builtin:"
_DONE = ".complete"   # hidden marker, so scan_folder never sees it


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
    if name in builtin_pairs.SETS:
        return builtin_pairs.materialise(name, cache_dir)
    raise MsganError(f"unknown built-in data set {path!r} — available: "
                     f"{', '.join(_PREFIX + b for b in BUILTIN)}")
