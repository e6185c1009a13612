"""Images in, batches out: decoding, mode conversion, resizing, and an endless resumable sampler.

Conventions (fixed so that runs are reproducible and documented in one place):
- Transparency is composited onto WHITE (what an image viewer shows), for LA, RGBA, PA and
  palette images with a transparent colour.
- ``resize="pad"`` letterboxes onto BLACK: the image is scaled so its longer side is R and
  centred; the bars are 0.
- 16-bit modes ('I;16*') are scaled by 255/65535. Mode 'I' (32-bit int) is taken as 8-bit when it
  fits in 0..255, as 16-bit when it fits in 0..65535, and is min-max scaled otherwise. Mode 'F'
  is taken as 0..1 when it fits there, as 0..255 when it fits there, else min-max scaled.
- Downscaling uses Lanczos, upscaling bicubic (smooth for tiny 8×8 inputs).
"""
from __future__ import annotations

import os
import stat
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image, ImageOps

from msgan.data import cache
from msgan.errors import MsganError
from msgan.io import atomic_path

MAX_PRELOAD_BYTES = 8 * 1024 ** 3
# A sampler over a mapped cache gives back the pages it has touched once they may add up to
# this many bytes, so its resident memory stays bounded whatever the size of the folder
# (cache.release). Each row read can map up to FAULT_AROUND bytes: Linux maps the cached pages
# around a faulting one too (fault_around_bytes, 64 KiB by default).
RELEASE_BYTES = 64 * 1024 ** 2
FAULT_AROUND = 64 * 1024
RESIZE_MODES = ("crop", "pad", "stretch")


# ----------------------------------------------------------------------------------------------
# Decoding and conversion

def _scale_to_uint8(a: np.ndarray, full_scale: Optional[float]) -> np.ndarray:
    """Map ``a`` to 0..255: divide by ``full_scale``/255, or min-max scale when it is None."""
    a = np.nan_to_num(a.astype(np.float64))
    if full_scale is None:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
    else:
        a = a * (255.0 / full_scale)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _high_depth_to_l(img: Image.Image) -> Image.Image:
    """'I;16*', 'I' and 'F' images as 8-bit 'L', scaled (not clipped) into 0..255."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        full = 65535.0
    elif img.mode == "I":
        lo, hi = int(a.min()), int(a.max())
        full = 255.0 if lo >= 0 and hi <= 255 else 65535.0 if lo >= 0 and hi <= 65535 else None
    else:  # 'F'
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        full = 1.0 if lo >= 0 and hi <= 1 else 255.0 if lo >= 0 and hi <= 255 else None
    return Image.fromarray(_scale_to_uint8(a, full), "L")


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite any transparency onto white; returns an 'L' or 'RGB' image (or img unchanged)."""
    if img.mode == "P":
        if "transparency" not in img.info:
            return img.convert("RGB")
        img = img.convert("RGBA")
    if img.mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("LA", "La", "RGBA", "RGBa"):
        grey = img.mode in ("LA", "La")
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out = Image.alpha_composite(white, rgba).convert("RGB")
        return out.convert("L") if grey else out
    return img


def convert_mode(img: Image.Image, channels: int) -> Image.Image:
    """Any Pillow mode → 'L' (channels=1) or 'RGB' (channels=3)."""
    if img.mode.startswith("I") or img.mode == "F":
        img = _high_depth_to_l(img)
    else:
        img = _flatten_alpha(img)
    if img.mode not in ("L", "RGB"):
        img = img.convert("L" if img.mode == "1" else "RGB")   # '1', CMYK, YCbCr, HSV, ...
    target = "L" if channels == 1 else "RGB"
    if img.mode != target:
        img = img.convert(target)   # RGB→L uses ITU-R 601-2 luma
    return img


def open_image(path: str, draft_size: Optional[int] = None) -> Image.Image:
    """Decode ``path`` fully, upright (EXIF orientation applied), first frame only.

    ``draft_size`` lets JPEG decode at a reduced scale that still keeps both sides >= draft_size,
    which is all any resize mode needs and saves most of the time on big photos.
    """
    with Image.open(path) as img:
        if draft_size and img.format == "JPEG":
            img.draft(img.mode, (draft_size, draft_size))
        img.load()
        try:
            upright = ImageOps.exif_transpose(img)
        except Exception:   # malformed EXIF: the pixels are fine, keep them as stored
            upright = img.copy()
        if upright is img:
            upright = img.copy()
    return upright


def _resample(src: float, dst: float) -> int:
    return Image.Resampling.LANCZOS if dst < src else Image.Resampling.BICUBIC


def resize_square(img: Image.Image, resolution: int, resize: str) -> Image.Image:
    """Make ``img`` R×R using ``resize`` = crop | pad | stretch (see the module docstring)."""
    if resize not in RESIZE_MODES:
        raise MsganError(f"resize mode {resize!r} is not known — use one of "
                         f"{', '.join(RESIZE_MODES)}")
    w, h = img.size
    R = resolution
    if resize == "stretch":
        return img.resize((R, R), _resample(min(w, h), R))
    if resize == "crop":
        # Resample straight from the centred square: one interpolation, exact centring.
        s = min(w, h)
        box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
        return img.resize((R, R), _resample(s, R), box=box)
    scale = R / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    inner = img.resize((nw, nh), _resample(max(w, h), R))
    canvas = Image.new(img.mode, (R, R), 0)
    canvas.paste(inner, ((R - nw) // 2, (R - nh) // 2))
    return canvas


def load_image(path: str, resolution: int, channels: int, resize: str = "crop") -> np.ndarray:
    """One image file as uint8 (C, R, R)."""
    if channels not in (1, 3):
        raise MsganError(f"channels is {channels} — use 1 (greyscale) or 3 (RGB)")
    try:
        img = open_image(path, draft_size=resolution)
        img = convert_mode(img, channels)
    except Exception as e:
        raise MsganError(f"cannot read image {path} ({type(e).__name__}: {e}) — remove it or "
                         "turn on data.do_validation to skip broken files") from None
    return _to_array(resize_square(img, resolution, resize))


def read_validated(path: str, resolution: int, channels: int, resize: str,
                   size: Optional[int] = None) -> Tuple[Optional[np.ndarray], Optional[Dict]]:
    """A file validation accepted, loaded as uint8 (C, R, R): ``(image, None)``, or
    ``(None, change)`` when it has since vanished, shrunk below the ``size`` in bytes validation
    saw, or stopped being readable or decodable. ``change``: {path, reason, detail}."""
    def change(reason, detail):
        return None, {"path": path, "reason": reason, "detail": detail}

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return change("vanished", "no longer exists")
    except OSError as e:
        return change("unreadable", e.strerror or str(e))
    if not stat.S_ISREG(st.st_mode):     # e.g. replaced by a pipe, which open() would wait on
        return change("unreadable", "no longer a regular file")
    now = st.st_size
    if size is not None and now < size:
        return change("shrank", f"{int(size)} bytes when validated, {now} now")
    try:
        img = convert_mode(open_image(path, draft_size=resolution), channels)
    except FileNotFoundError:
        return change("vanished", "no longer exists")
    except (PermissionError, IsADirectoryError) as e:
        return change("unreadable", e.strerror or str(e))
    except Exception as e:   # truncated or rewritten with something Pillow cannot decode
        return change("corrupt", f"no longer decodes ({type(e).__name__}: {e})")
    return _to_array(resize_square(img, resolution, resize)), None


def _to_array(img: Image.Image) -> np.ndarray:
    """uint8 (C, R, R) of an 'L' or 'RGB' image."""
    a = np.asarray(img, dtype=np.uint8)
    if a.ndim == 2:
        a = a[None]
    else:
        a = a.transpose(2, 0, 1)
    return np.ascontiguousarray(a)


def load_images(image_set, resolution: int, channels: int, resize: str = "crop",
                progress: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Every image of ``image_set`` preloaded: uint8 (N, C, R, R) and int32 labels (N,)."""
    n = len(image_set.files)
    nbytes = n * channels * resolution * resolution
    if nbytes > MAX_PRELOAD_BYTES:
        raise MsganError(f"{n} images at {resolution}x{resolution}x{channels} need "
                         f"{nbytes / 1024 ** 3:.1f} GiB in memory (limit 8 GiB) — use a lower "
                         "data.resolution or fewer images")
    out = np.empty((n, channels, resolution, resolution), np.uint8)
    files = image_set.files
    if progress:
        from msgan.progress import Bar
        files = Bar(files, desc="loading images", unit="img")
    for i, path in enumerate(files):
        out[i] = load_image(path, resolution, channels, resize)
    return out, np.asarray(image_set.labels, dtype=np.int32).copy()


# ----------------------------------------------------------------------------------------------
# Batches

class BatchSampler:
    """Endless shuffled batches of (float32 NCHW in [-1, 1], int32 labels).

    ``images`` is an array in memory or one mapped from the decoded cache (data/cache.py):
    the same indices give the same batches either way.

    Each epoch draws a permutation and a flip mask from the sampler's own generator. Batches run
    across epoch ends, so every batch is full even when there are fewer images than batch_size.
    ``state_dict`` keeps the generator state from the start of the current epoch, so a resumed
    sampler re-draws the same epoch and continues at the same position: bit-identical batches.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                 mirror: bool, balanced: bool = False):
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, C, R, R), got {images.dtype} "
                             f"{images.shape}")
        if len(images) == 0:
            raise MsganError("there are no images to train on — check data.path")
        if batch_size <= 0:
            raise MsganError(f"batch_size is {batch_size} — use a positive number")
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int32)
        if self.labels.shape != (len(images),):
            raise ValueError(f"labels shape {self.labels.shape} does not match {len(images)} "
                             "images")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.mirror = bool(mirror)
        # Class-balanced epochs: every class is drawn equally often (its images with
        # replacement), so a class with 15 images is not 1 % of what G and D are trained on.
        counts = np.bincount(self.labels)
        self.weights = None
        if balanced and np.count_nonzero(counts) > 1:
            w = 1.0 / counts[self.labels]
            self.weights = w / w.sum()
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.epoch = -1
        self._start_epoch()
        self._mapped, self._read = cache.mapping_of(images), 0

    def _start_epoch(self) -> None:
        self._epoch_state = self.rng.bit_generator.state
        n = len(self.images)
        if self.weights is None:
            self.order = self.rng.permutation(n)
        else:
            self.order = self.rng.choice(n, n, p=self.weights)
        self.flips = (self.rng.random(n) < 0.5) if self.mirror else np.zeros(n, bool)
        self.epoch += 1
        self.position = 0

    def __iter__(self):
        return self

    def __next__(self) -> Tuple[np.ndarray, np.ndarray]:
        idx, flip = [], []
        need = self.batch_size
        while need:
            if self.position == len(self.order):
                self._start_epoch()
            take = min(need, len(self.order) - self.position)
            sl = slice(self.position, self.position + take)
            idx.append(self.order[sl])
            flip.append(self.flips[sl])
            self.position += take
            need -= take
        idx, flip = np.concatenate(idx), np.concatenate(flip)
        batch = self.images[idx]
        if self._mapped is not None:
            self._read += len(idx) * max(batch[0].nbytes, FAULT_AROUND)
            if self._read >= RELEASE_BYTES:
                cache.release(self._mapped)
                self._read = 0
        if flip.any():
            batch[flip] = batch[flip][..., ::-1]
        x = batch.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
        return x, self.labels[idx]

    next_batch = __next__

    def state_dict(self) -> Dict:
        """JSON-serialisable state (Python ints, including the 128-bit PCG64 state)."""
        return {"epoch": int(self.epoch), "position": int(self.position),
                "num_images": int(len(self.images)), "batch_size": self.batch_size,
                "seed": self.seed, "mirror": self.mirror,
                "bit_generator": _plain(self._epoch_state)}

    def load_state_dict(self, d: Dict) -> None:
        if int(d["num_images"]) != len(self.images):
            raise MsganError(f"the checkpoint was trained on {d['num_images']} images but the "
                             f"data now has {len(self.images)} — resume with the same data "
                             "(and data.do_validation settings)")
        if bool(d["mirror"]) != self.mirror:
            raise MsganError("the checkpoint was trained with data.mirror="
                             f"{str(bool(d['mirror'])).lower()} — resume with the same setting")
        self.seed = int(d["seed"])
        self.rng.bit_generator.state = d["bit_generator"]
        self.epoch = int(d["epoch"]) - 1
        self._start_epoch()
        self.position = int(d["position"])


def _plain(obj):
    """numpy scalars/dicts → plain Python so json.dumps accepts them."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ----------------------------------------------------------------------------------------------
# Output images

GRID_PAD = 2          # px between tiles, so neighbouring images do not run together
GRID_BACKGROUND = 128  # mid grey: visible against both dark and light images
LABEL_MIN_TILE = 16    # tiles are enlarged (nearest) to at least this when rows are labelled


def make_grid(images: np.ndarray, nrow: int, pad: int = GRID_PAD) -> np.ndarray:
    """uint8 (N, C, R, R) → one (rows*(R+pad)+pad, nrow*(R+pad)+pad, C) array: tiles on a grey
    background with ``pad`` px around each; empty cells stay grey."""
    n, c, h, w = images.shape
    nrow = max(1, min(int(nrow), n))
    rows = -(-n // nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), GRID_BACKGROUND,
                   np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = images[i].transpose(1, 2, 0)
    return grid


def label_rows(grid: np.ndarray, labels, tile: int, pad: int = GRID_PAD) -> np.ndarray:
    """``grid`` (from make_grid, tiles of ``tile`` px) with a text column naming each row."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    names = [str(x)[:16] for x in labels]
    width = max(int(font.getlength(s)) for s in names) + 2 * pad + 2
    img = Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)
    out = Image.new(img.mode, (img.width + width, img.height), 255 if img.mode == "L"
                    else (255, 255, 255))
    out.paste(img, (width, 0))
    draw = ImageDraw.Draw(out)
    for r, name in enumerate(names):
        _, top, _, bottom = draw.textbbox((0, 0), name, font=font)
        y = pad + r * (tile + pad) + (tile - (bottom - top)) // 2 - top
        draw.text((pad, y), name, fill=0 if img.mode == "L" else (0, 0, 0), font=font)
    a = np.asarray(out)
    return a[..., None] if a.ndim == 2 else a


def save_grid(images: np.ndarray, path: str, nrow: int, row_labels=None) -> None:
    """Write uint8 (N, C, R, R) as a PNG grid with ``nrow`` images per row (written atomically);
    ``row_labels`` (e.g. class names) are written left of the rows."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"save_grid needs uint8 (N, 1|3, R, R), got {images.dtype} "
                         f"{images.shape}")
    tile = images.shape[2]
    if row_labels is not None and len(row_labels) and tile < LABEL_MIN_TILE:
        k = -(-LABEL_MIN_TILE // tile)      # text needs ~12 px of row height
        images, tile = images.repeat(k, axis=2).repeat(k, axis=3), tile * k
    grid = make_grid(images, nrow)
    if row_labels is not None and len(row_labels):
        grid = label_rows(grid, row_labels, tile)
    img = Image.fromarray(grid[..., 0], "L") if grid.shape[2] == 1 else Image.fromarray(grid, "RGB")
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
