"""Embedded image-to-image demo data made from the built-in digits (see digits.py).

- ``builtin:digits-paired`` (pix2pix): ``train/`` and ``val/`` of 64x32 A|B images, A the edge
  map of a digit, B the digit itself (a tiny edges2shoes).
- ``builtin:digits-unpaired`` (CycleGAN, DiscoGAN): ``trainA``/``testA`` bright digits on black,
  ``trainB``/``testB`` dark blue ink on paper, from disjoint halves of the set (no pairs).
- ``builtin:digits-sr`` (SRGAN): ``train/`` and ``val/`` of 32x32 digits; x4 down-sampling gives
  back 8x8 inputs.
Every set is written once into the run's folder, like ``builtin:digits``, so it goes through the
same scan/validate/load code as user data.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from msgan.data.digits import load_digits

SETS = ("digits-paired", "digits-unpaired", "digits-sr")
SIZE = 32
HELD_OUT = 97          # the last images of the 1797 are the evaluation split
_DONE = ".complete"


def _upscaled(img8: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img8, "L").resize((SIZE, SIZE), Image.Resampling.BICUBIC))


def _edges(img: np.ndarray) -> np.ndarray:
    """Gradient magnitude, thresholded: thin bright outlines like an edge detector's output."""
    gy, gx = np.gradient(img.astype(np.float32))
    mag = np.hypot(gx, gy)
    return np.where(mag > 0.25 * mag.max(), 255, 0).astype(np.uint8)


def _ink_on_paper(img: np.ndarray) -> np.ndarray:
    """Domain B of the unpaired set: the digit as dark blue ink on off-white paper (RGB)."""
    t = img.astype(np.float32)[..., None] / 255.0
    paper, ink = np.array([245, 240, 225], np.float32), np.array([20, 40, 140], np.float32)
    return np.rint(paper * (1 - t) + ink * t).astype(np.uint8)


def _write(root: str, name: str) -> None:
    images, _ = load_digits()
    big = [_upscaled(x) for x in images]
    split = len(big) - HELD_OUT
    if name == "digits-paired":
        for i, img in enumerate(big):
            folder = os.path.join(root, "train" if i < split else "val")
            ab = np.concatenate([_edges(img), img], axis=1)
            Image.fromarray(ab, "L").save(os.path.join(folder, f"{i:04d}.png"))
    elif name == "digits-unpaired":
        half = split // 2
        for i, img in enumerate(big):
            if i < half or split <= i < split + HELD_OUT // 2:
                folder = "trainA" if i < split else "testA"
                Image.fromarray(img, "L").save(os.path.join(root, folder, f"{i:04d}.png"))
            else:
                folder = "trainB" if i < split else "testB"
                Image.fromarray(_ink_on_paper(img), "RGB").save(
                    os.path.join(root, folder, f"{i:04d}.png"))
    else:
        for i, img in enumerate(big):
            folder = os.path.join(root, "train" if i < split else "val")
            Image.fromarray(img, "L").save(os.path.join(folder, f"{i:04d}.png"))


def materialise(name: str, cache_dir: str) -> str:
    """Write the set ``name`` under ``cache_dir`` once (atomically) and return its folder."""
    final = os.path.join(cache_dir, "builtin_" + name.replace("-", "_"))
    if os.path.isfile(os.path.join(final, _DONE)):
        return final
    os.makedirs(cache_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".builtin_pairs.", dir=cache_dir)
    os.chmod(tmp, 0o755)
    try:
        subs = {"digits-paired": ("train", "val"), "digits-sr": ("train", "val"),
                "digits-unpaired": ("trainA", "trainB", "testA", "testB")}[name]
        for sub in subs:
            os.makedirs(os.path.join(tmp, sub))
        _write(tmp, name)
        open(os.path.join(tmp, _DONE), "w").close()
        if os.path.isdir(final):
            shutil.rmtree(final)       # an interrupted older copy
        try:
            os.rename(tmp, final)
        except OSError:
            if not os.path.isfile(os.path.join(final, _DONE)):   # lost a race to a complete one
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return final
