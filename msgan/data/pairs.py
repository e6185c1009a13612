"""The three image-to-image folder layouts: find, validate, load and sample image pairs.

- paired (pix2pix): ``root/train/*.jpg`` and ``root/val/`` (or ``root/test/``), each image A|B
  side by side; ``direction`` picks which half is the input.
- unpaired (CycleGAN, DiscoGAN): ``root/trainA``, ``root/trainB`` and optional ``testA``/``testB``.
- sr (SRGAN): high-resolution images in ``root/*.png`` or ``root/train`` + ``root/val``, or
  ``root/HR`` + ``root/LR`` matched by file stem (LR must be HR/scale). Without an LR folder the
  input is the HR image down-sampled by PIL bicubic.
A missing evaluation split is a deterministic, evenly spaced ``holdout`` fraction of train (the
same files for every seed, so evaluation numbers of different runs compare). The input folder is
only read; the report is written elsewhere.

Sides are named per layout: paired "AB" (one file holds both), unpaired "A" and "B", sr "HR"
and, with an LR folder, "LR" (aligned with "HR" index by index).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from msgan.data.folder import IMAGE_EXTENSIONS, _scan_level
from msgan.data.pipeline import (MAX_PRELOAD_BYTES, _resample, convert_mode, load_image,
                                 open_image, resize_square)
from msgan.data.validate import check_image, check_report_path, write_report
from msgan.errors import MsganError

LAYOUTS = ("paired", "unpaired", "sr")   # a model's is msgan.models.MODELS[name].layout
ASPECT_TOLERANCE = 0.1   # an A|B image's width may be 2·height ± 10 %
Files = Tuple[str, ...]


@dataclass(frozen=True, eq=False)
class PairSet:
    """Files of a translation dataset per split ("train", "test") and side (see module doc)."""
    root: str
    layout: str
    train: Dict[str, Files]
    test: Dict[str, Files]
    test_source: Dict[str, str]          # side → folder it came from, or "held out of train"
    skipped: Tuple[Tuple[str, str], ...] = ()

    def sides(self) -> Tuple[str, ...]:
        return tuple(self.train)


def _tree(model: str, layout: str, root: str) -> str:
    """The layout ``model`` needs, spelled out with the user's path."""
    r = root.rstrip(os.sep)
    if layout == "paired":
        return (f"{model} needs paired images: {r}/train/*.jpg (and {r}/val/), each A|B side by "
                "side")
    if layout == "unpaired":
        return (f"{model} needs two unpaired domains: {r}/trainA/*.jpg and {r}/trainB/*.jpg "
                f"(and optional {r}/testA/, {r}/testB/)")
    return (f"{model} needs high-resolution images: {r}/*.png, or {r}/train/ (and {r}/val/), or "
            f"{r}/HR/ with {r}/LR/ matched by file name")


def _images_in(folder: str, layout: str, skipped: List) -> List[str]:
    try:
        images, dirs = _scan_level(folder, skipped)
    except OSError as e:
        raise MsganError(f"cannot read {folder} ({e.strerror or e}) — check its "
                         "permissions") from None
    for d in dirs:
        skipped.append((d, f"folder not used by the {layout} layout"))
    return images


def _split_dirs(root: str, names: Tuple[str, ...]) -> Dict[str, str]:
    """Which of ``names`` exist as folders in root (case-insensitive: 'HR' also finds 'hr')."""
    found = {}
    with os.scandir(root) as it:
        entries = sorted((e.name for e in it if e.is_dir()), key=str)
    for name in names:
        match = [e for e in entries if e.lower() == name.lower()]
        if match:
            found[name] = os.path.join(root, match[0])
    return found


def _leftovers(root: str, used: Dict[str, str], skipped: List, layout: str) -> None:
    used_real = {os.path.realpath(p) for p in used.values()}
    with os.scandir(root) as it:
        for e in sorted(it, key=lambda e: e.name):
            full = os.path.join(root, e.name)
            if e.name.startswith(".") or os.path.realpath(full) in used_real:
                continue
            skipped.append((full, f"not part of the {layout} layout"))


def scan_pairs(path: str, model: str, layout: str) -> PairSet:
    """Find the splits and files of ``layout`` (one of LAYOUTS, the one ``model`` trains on;
    the name is for messages) in ``path`` (read-only); wrong layout → error."""
    if layout not in LAYOUTS:
        raise ValueError(f"{model} has the {layout!r} data layout, not one of {LAYOUTS}")
    if not os.path.isdir(path):
        what = "does not exist" if not os.path.exists(path) else "is a file"
        raise MsganError(f"data.path {path} {what} — {_tree(model, layout, path)}")
    root = os.path.abspath(path)
    skipped: List[Tuple[str, str]] = []
    if layout == "paired":
        dirs = _split_dirs(root, ("train", "val", "test"))
        if "train" not in dirs:
            raise MsganError(f"data.path {root} has no train/ folder — "
                             f"{_tree(model, layout, root)}")
        train = {"AB": _images_in(dirs["train"], layout, skipped)}
        test_dir = dirs.get("val") or dirs.get("test")
        if "val" in dirs and "test" in dirs:
            skipped.append((dirs["test"], "not used: val/ is the evaluation split"))
        test = {"AB": _images_in(test_dir, layout, skipped) if test_dir else []}
        source = {"AB": os.path.basename(test_dir) if test_dir else ""}
    elif layout == "unpaired":
        dirs = _split_dirs(root, ("trainA", "trainB", "testA", "testB"))
        missing = [n for n in ("trainA", "trainB") if n not in dirs]
        if missing:
            raise MsganError(f"data.path {root} has no {' or '.join(m + '/' for m in missing)} "
                             f"folder — {_tree(model, layout, root)}")
        train, test, source = {}, {}, {}
        for side in ("A", "B"):
            train[side] = _images_in(dirs["train" + side], layout, skipped)
            t = dirs.get("test" + side)
            test[side] = _images_in(t, layout, skipped) if t else []
            source[side] = os.path.basename(t) if t else ""
    else:
        dirs = _split_dirs(root, ("HR", "LR", "train", "val"))
        if "HR" in dirs:
            dirs.pop("train", None), dirs.pop("val", None)
            train = {"HR": _images_in(dirs["HR"], layout, skipped)}
            if "LR" in dirs:
                train["HR"], train["LR"] = _match_stems(
                    train["HR"], _images_in(dirs["LR"], layout, skipped), skipped)
            test = {side: [] for side in train}
            source = {side: "" for side in train}
        elif "train" in dirs:
            dirs.pop("LR", None)
            train = {"HR": _images_in(dirs["train"], layout, skipped)}
            test = {"HR": _images_in(dirs["val"], layout, skipped) if "val" in dirs else []}
            source = {"HR": "val" if "val" in dirs else ""}
        else:
            images, sub = _scan_level(root, skipped)
            if sub and not images:
                raise MsganError(f"data.path {root} holds only sub-folders (class folders?) "
                                 f"— {_tree(model, layout, root)}")
            for d in sub:
                skipped.append((d, "sub-folder not used: the HR images are read from the top "
                                   "level"))
            train, test, source = {"HR": images}, {"HR": []}, {"HR": ""}
            dirs = {}
    if dirs:
        _leftovers(root, dirs, skipped, layout)
    for side, files in train.items():
        if not files:
            where = {"AB": "train/", "A": "trainA/", "B": "trainB/"}.get(side, "the HR folder")
            raise MsganError(f"no images in {where} of {root} (accepted extensions: "
                             f"{' '.join(IMAGE_EXTENSIONS)}) — {_tree(model, layout, root)}")
    return PairSet(root, layout, {k: tuple(v) for k, v in train.items()},
                   {k: tuple(v) for k, v in test.items()}, source, tuple(skipped))


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _match_stems(hr: List[str], lr: List[str], skipped: List) -> Tuple[List[str], List[str]]:
    """HR and LR files paired by stem (case-insensitive); DIV2K's LR names with an 'x2'/'x3'/
    'x4'/'x8' suffix (0001x4.png for 0001.png) match too."""
    free = {_stem(f).lower(): f for f in lr}
    out_hr, out_lr = [], []
    for f in hr:
        stem = _stem(f).lower()
        key = next((k for k in (stem, stem + "x2", stem + "x3", stem + "x4", stem + "x8")
                    if k in free), None)
        if key is None:
            skipped.append((f, "HR image without an LR image of the same name"))
        else:
            out_hr.append(f)
            out_lr.append(free.pop(key))
    for f in free.values():
        skipped.append((f, "LR image without an HR image of the same name"))
    return out_hr, out_lr


# ----------------------------------------------------------------------------------------------
# Validation and hold-out

def _upright_size(path: str) -> Tuple[int, int]:
    """(width, height) as displayed, i.e. after the EXIF orientation is applied."""
    with Image.open(path) as img:
        w, h = img.size
        try:
            turned = img.getexif().get(0x0112) in (5, 6, 7, 8)
        except Exception:
            turned = False
    return (h, w) if turned else (w, h)


def _pair_problem(layout: str, side: str, path: str, partner: Optional[str], channels: int,
                  min_size: int, scale: int, min_hr: int) -> Optional[Dict]:
    problem, _ = check_image(path, channels, min_size)
    if problem is not None or layout == "unpaired" or side == "LR":
        return problem
    w, h = _upright_size(path)
    if layout == "sr" and min(w, h) < min_hr:
        return {"file": path, "problem": "too_small",
                "detail": f"{w}x{h}; SR targets are never upscaled, so the shorter side must be "
                          f"at least {min_hr} px (data.load_size or data.resolution)"}
    if layout == "paired" and abs(w / (2.0 * h) - 1.0) > ASPECT_TOLERANCE:
        return {"file": path, "problem": "wrong_aspect",
                "detail": f"{w}x{h}: an A|B image must be about twice as wide as high"}
    if partner is not None:
        lr_problem, _ = check_image(partner, channels, 1)
        if lr_problem is not None:
            lr_problem["detail"] = f"LR image {partner}: {lr_problem['detail']}"
            lr_problem["file"] = path
            return lr_problem
        lw, lh = _upright_size(partner)
        if abs(lw - w / scale) > 1 or abs(lh - h / scale) > 1:
            return {"file": path, "problem": "wrong_size",
                    "detail": f"LR image {partner} is {lw}x{lh}; HR {w}x{h} / scale {scale} "
                              f"is {w // scale}x{h // scale}"}
    return None


def _validate_split(ps: PairSet, split: str, channels: int, min_size: int, scale: int,
                    min_hr: int, problems: List) -> Dict[str, Files]:
    files = getattr(ps, split)
    if ps.layout != "unpaired" and files:
        first = next(iter(files))
        lr = files.get("LR")
        keep = []
        for i, f in enumerate(files[first]):
            p = _pair_problem(ps.layout, first, f, lr[i] if lr else None, channels, min_size,
                              scale, min_hr)
            if p is None:
                keep.append(i)
            else:
                problems.append(p)
        return {side: tuple(fs[i] for i in keep) for side, fs in files.items()}
    out = {}
    for side, fs in files.items():
        keep = []
        for f in fs:
            p = _pair_problem(ps.layout, side, f, None, channels, min_size, scale, min_hr)
            if p is None:
                keep.append(f)
            else:
                problems.append(p)
        out[side] = tuple(keep)
    return out


def hold_out(ps: PairSet, fraction: float) -> PairSet:
    """Fill every empty test side with an evenly spaced ``fraction`` of train (at least one)."""
    train, test, source = dict(ps.train), dict(ps.test), dict(ps.test_source)
    # Aligned sides (HR with LR) must lose the same indices, so decide once per group.
    groups = [("A",), ("B",)] if ps.layout == "unpaired" else [tuple(ps.train)]
    for group in groups:
        if test[group[0]]:
            continue
        n = len(train[group[0]])
        if n < 2:
            where = {"A": "trainA/", "B": "trainB/"}.get(group[0], "train")
            raise MsganError(f"{where} of {ps.root} has {n} usable image{'s' * (n != 1)} and "
                             "no evaluation folder — add images (at least 2, one is held out "
                             "for evaluation) or an evaluation folder")
        k = min(n - 1, max(1, int(round(fraction * n))))
        held = set(((np.arange(k) + 0.5) * n / k).astype(int).tolist())   # bin centres
        for side in group:
            test[side] = tuple(train[side][i] for i in sorted(held))
            train[side] = tuple(f for i, f in enumerate(train[side]) if i not in held)
            source[side] = f"held out of train ({k} of {n})"
    return replace(ps, train=train, test=test, test_source=source)


def validate_pairs(ps: PairSet, channels: int, min_size: int = 8, scale: int = 1,
                   min_hr: int = 0, holdout: Optional[float] = None,
                   report_path: Optional[str] = None) -> PairSet:
    """Decode every file, drop unusable ones (with reasons), hold out an evaluation split where
    there is none (``holdout`` fraction, if given) and write ``report_path`` (JSON).

    ``min_hr``: SR high-resolution images with a shorter side below it are left out.
    """
    check_report_path(report_path, ps.root)
    problems: List[Dict] = []
    train = _validate_split(ps, "train", channels, min_size, scale, min_hr, problems)
    test = _validate_split(ps, "test", channels, min_size, scale, min_hr, problems)
    usable = final = replace(ps, train=train, test=test)
    see = f" (details in {report_path})" if report_path is not None else ""
    error = None
    empty = [side for side, files in train.items() if not files]
    if empty:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(Counter(
            p["problem"] for p in problems).items()))
        error = MsganError(f"no usable {empty[0]} training images in {ps.root} ({kinds}){see} — "
                           "fix or replace the files")
    elif holdout is not None:
        try:
            final = hold_out(usable, holdout)
        except MsganError as e:
            error = e
    if report_path is not None:
        write_report(pairs_report(ps, usable, final, channels, min_size, problems), report_path)
    if error is not None:
        raise error
    return final


def pairs_report(found: PairSet, usable: PairSet, final: PairSet, channels: int,
                 min_size: int, problems: List[Dict]) -> Dict:
    """validation.json for a translation dataset: counts per split/side as found and as kept,
    the final train/test sizes with where the test split came from, problems, skipped."""
    counts = {}
    for split in ("train", "test"):
        for side, files in getattr(found, split).items():
            counts[f"{split}/{side}"] = {"found": len(files),
                                         "kept": len(getattr(usable, split)[side])}
    n_found = sum(c["found"] for c in counts.values())
    n_kept = sum(c["kept"] for c in counts.values())
    held = {side: list(final.test[side]) for side in final.sides()
            if final.test_source[side].startswith("held out")}
    return {"root": found.root, "layout": found.layout, "channels": channels,
            "min_size": min_size, "counts": counts,
            "splits": {side: {"train": len(final.train[side]), "test": len(final.test[side]),
                              "test_source": final.test_source[side] or "none"}
                       for side in final.sides()},
            "held_out": held,
            "problems": problems,
            "skipped": [{"path": p, "reason": r} for p, r in found.skipped],
            "summary": {"found": n_found, "kept": n_kept, "problems": len(problems),
                        "skipped": len(found.skipped)}}


def pairs_summary(ps: PairSet) -> str:
    """One line: images per split and side, where the evaluation split comes from."""
    parts = []
    for side in ps.sides():
        src = ps.test_source[side] or "none"
        parts.append(f"{side}: {len(ps.train[side])} train, {len(ps.test[side])} test "
                     f"({src})")
    extra = f", {len(ps.skipped)} entries ignored" if ps.skipped else ""
    return f"{ps.layout} data in {ps.root}: " + "; ".join(parts) + extra


def open_pairs(data_cfg, model: str, layout: str, scale: int = 1,
               report_path: Optional[str] = None) -> PairSet:
    """scan → validate (if data.do_validation) → hold out; what the training loop calls."""
    ps = scan_pairs(data_cfg.path, model, layout)
    if not data_cfg.do_validation:
        return hold_out(ps, data_cfg.holdout)
    return validate_pairs(ps, data_cfg.channels, data_cfg.min_size, scale,
                          data_cfg.load_size or data_cfg.resolution, data_cfg.holdout,
                          report_path)


# ----------------------------------------------------------------------------------------------
# Loading

@dataclass(frozen=True, eq=False)
class LoadedSplit:
    """uint8 NCHW arrays of one split: ``a`` the model input, ``b`` the target (SR: a = LR,
    b = HR; unpaired: independent sets). ``files_a[i]`` is the source of ``a[i]``."""
    a: np.ndarray
    b: np.ndarray
    files_a: Files
    files_b: Files


def _to_array(img: Image.Image) -> np.ndarray:
    a = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))


def _read(path: str, channels: int, draft_size: Optional[int] = None) -> Image.Image:
    try:
        return convert_mode(open_image(path, draft_size), channels)
    except Exception as e:
        raise MsganError(f"cannot read image {path} ({type(e).__name__}: {e}) — remove it or "
                         "turn on data.do_validation to skip broken files") from None


def _load_ab(path: str, size: int, channels: int, resize: str) -> Tuple[np.ndarray, np.ndarray]:
    img = _read(path, channels, draft_size=size)
    w, h = img.size
    half = w // 2
    left = resize_square(img.crop((0, 0, half, h)), size, resize)
    right = resize_square(img.crop((half, 0, 2 * half, h)), size, resize)
    return _to_array(left), _to_array(right)


def _load_sr(hr_path: str, lr_path: Optional[str], size: int, channels: int,
             scale: int) -> Tuple[np.ndarray, np.ndarray]:
    """HR: the centred square (side and offset multiples of scale) resized to ``size``; LR: the
    same box of the LR file, or the HR result bicubic-down-sampled. Exact crops when the square
    already is ``size``, so given LR files stay untouched."""
    hr = _read(hr_path, channels)
    w, h = hr.size
    s = max(scale, min(w, h) // scale * scale)
    x0, y0 = (w - s) // 2 // scale * scale, (h - s) // 2 // scale * scale
    small = size // scale
    hr_sq = hr.crop((x0, y0, x0 + s, y0 + s))
    hr_out = hr_sq if s == size else hr_sq.resize((size, size), _resample(s, size))
    if lr_path is None:
        lr_out = hr_out.resize((small, small), Image.Resampling.BICUBIC)
    else:
        lr = _read(lr_path, channels)
        ls = s // scale
        lr_sq = lr.crop((x0 // scale, y0 // scale, x0 // scale + ls, y0 // scale + ls))
        lr_out = lr_sq if ls == small else lr_sq.resize((small, small), _resample(ls, small))
    return _to_array(lr_out), _to_array(hr_out)


def load_split(ps: PairSet, split: str, size: int, channels: int, direction: str = "AtoB",
               resize: str = "crop", scale: int = 1) -> LoadedSplit:
    """Every image of ``split`` ("train" | "test") at ``size`` (SR: HR size; LR is size/scale).

    Use data.load_size (or resolution) for train, resolution for test translation/evaluation.
    """
    if channels not in (1, 3):
        raise MsganError(f"channels is {channels} — use 1 (greyscale) or 3 (RGB)")
    files = getattr(ps, split)
    n = sum(len(f) for f in files.values())
    if n * channels * size * size * (2 if ps.layout == "paired" else 1) > MAX_PRELOAD_BYTES:
        raise MsganError(f"{n} images at {size}x{size}x{channels} need more than 8 GiB in memory "
                         "— use a lower data.load_size / data.resolution or fewer images")
    if ps.layout == "paired":
        pairs = [_load_ab(f, size, channels, resize) for f in files["AB"]]
        left = np.stack([p[0] for p in pairs]) if pairs else _empty(channels, size)
        right = np.stack([p[1] for p in pairs]) if pairs else _empty(channels, size)
        a, b = (left, right) if direction == "AtoB" else (right, left)
        return LoadedSplit(a, b, files["AB"], files["AB"])
    if ps.layout == "unpaired":
        a, b = (np.stack([load_image(f, size, channels, resize) for f in files[s]])
                if files[s] else _empty(channels, size) for s in ("A", "B"))
        return LoadedSplit(a, b, files["A"], files["B"])
    if size % scale:
        raise MsganError(f"image size {size} is not a multiple of the SR scale {scale} — use a "
                         "data.load_size / data.resolution divisible by it")
    lr_files = files.get("LR") or (None,) * len(files["HR"])
    pairs = [_load_sr(hr, lr, size, channels, scale) for hr, lr in zip(files["HR"], lr_files)]
    lr = np.stack([p[0] for p in pairs]) if pairs else _empty(channels, size // scale)
    hr = np.stack([p[1] for p in pairs]) if pairs else _empty(channels, size)
    return LoadedSplit(lr, hr, tuple(files.get("LR") or files["HR"]), files["HR"])


def _to_unit(x: np.ndarray) -> np.ndarray:
    """uint8 → float32 in [-1, 1], the same arithmetic as pipeline.BatchSampler."""
    return x.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)


def _empty(channels: int, size: int) -> np.ndarray:
    return np.zeros((0, channels, size, size), np.uint8)


# ----------------------------------------------------------------------------------------------
# Batches

class PairSampler:
    """Endless batches ``(a, b)`` float32 NCHW in [-1, 1] with random crops and flips.

    paired: the same image index, crop and flip on both sides (for SR the ``b`` crop is
    ``resolution`` at offsets that are multiples of ``scale`` and the ``a`` crop the matching
    ``resolution / scale`` window). Unpaired: independent orders, crops and flips per side.
    Each side walks through per-epoch permutations; epoch e's permutation and batch k's crops
    come from generators seeded by (seed, side, e) and (seed, k), so the whole state is the
    batch counter: ``state_dict`` is tiny and a resumed sampler continues bit-identically.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, batch_size: int, seed: int, resolution: int,
                 paired: bool, mirror: bool, scale: int = 1):
        for name, x in (("a", a), ("b", b)):
            if x.ndim != 4 or x.dtype != np.uint8:
                raise ValueError(f"{name} must be uint8 (N, C, H, W), got {x.dtype} {x.shape}")
            if len(x) == 0:
                raise MsganError("there are no images to train on — check data.path")
        if batch_size <= 0:
            raise MsganError(f"batch_size is {batch_size} — use a positive number")
        if paired and len(a) != len(b):
            raise ValueError(f"paired sides differ in length: {len(a)} vs {len(b)}")
        if resolution % scale:
            raise MsganError(f"resolution {resolution} is not a multiple of scale {scale} — "
                             "use a resolution divisible by model.scale")
        small = resolution // scale
        if b.shape[2] < resolution or b.shape[3] < resolution or a.shape[2] < small \
                or a.shape[3] < small:
            raise MsganError(f"images of {b.shape[2]}x{b.shape[3]} are smaller than the crop "
                             f"{resolution} — set data.load_size to at least data.resolution")
        if paired and (a.shape[2] * scale != b.shape[2] or a.shape[3] * scale != b.shape[3]):
            raise ValueError(f"a {a.shape} times scale {scale} does not match b {b.shape}")
        self.a, self.b = a, b
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.resolution, self.scale = int(resolution), int(scale)
        self.paired, self.mirror = bool(paired), bool(mirror)
        self.batches = 0
        self._perm_cache: Dict[Tuple[int, int], np.ndarray] = {}

    def _perm(self, side: int, n: int, epoch: int) -> np.ndarray:
        key = (side, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 8:   # only the current and next epochs are ever needed
                self._perm_cache.clear()
            self._perm_cache[key] = np.random.default_rng(
                [self.seed % 2 ** 63, side, epoch]).permutation(n)
        return self._perm_cache[key]

    def _indices(self, side: int, n: int) -> np.ndarray:
        start = self.batches * self.batch_size
        pos = np.arange(start, start + self.batch_size)
        out = np.empty(self.batch_size, np.int64)
        for e in np.unique(pos // n):
            sel = pos // n == e
            out[sel] = self._perm(side, n, int(e))[pos[sel] % n]
        return out

    def _crops(self, rng: np.random.Generator, x: np.ndarray, idx: np.ndarray, unit: int,
               size: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop offsets in multiples of ``unit`` (scale for SR HR, else 1), and flips."""
        h, w = x.shape[2], x.shape[3]
        oy = rng.integers(0, (h - size) // unit + 1, len(idx)) * unit
        ox = rng.integers(0, (w - size) // unit + 1, len(idx)) * unit
        flip = (rng.random(len(idx)) < 0.5) if self.mirror else np.zeros(len(idx), bool)
        return oy, ox, flip

    @staticmethod
    def _cut(x: np.ndarray, idx, oy, ox, flip, size: int, div: int = 1) -> np.ndarray:
        out = np.empty((len(idx), x.shape[1], size, size), np.uint8)
        for j, i in enumerate(idx):
            y0, x0 = oy[j] // div, ox[j] // div
            crop = x[i, :, y0:y0 + size, x0:x0 + size]
            out[j] = crop[..., ::-1] if flip[j] else crop
        return out

    def __iter__(self):
        return self

    def __next__(self) -> Tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed % 2 ** 63, 2, self.batches])
        R, s = self.resolution, self.scale
        if self.paired:
            idx = self._indices(0, len(self.b))
            oy, ox, flip = self._crops(rng, self.b, idx, s, R)
            b = self._cut(self.b, idx, oy, ox, flip, R)
            a = self._cut(self.a, idx, oy, ox, flip, R // s, div=s)
        else:
            ia, ib = self._indices(0, len(self.a)), self._indices(1, len(self.b))
            a = self._cut(self.a, ia, *self._crops(rng, self.a, ia, 1, R), R)
            b = self._cut(self.b, ib, *self._crops(rng, self.b, ib, 1, R), R)
        self.batches += 1
        return _to_unit(a), _to_unit(b)

    next_batch = __next__

    def state_dict(self) -> Dict:
        return {"batches": int(self.batches), "seed": self.seed, "batch_size": self.batch_size,
                "num_a": int(len(self.a)), "num_b": int(len(self.b)),
                "resolution": self.resolution, "scale": self.scale, "paired": self.paired,
                "mirror": self.mirror}

    def load_state_dict(self, d: Dict) -> None:
        if (int(d["num_a"]), int(d["num_b"])) != (len(self.a), len(self.b)):
            raise MsganError(f"the checkpoint was trained on {d['num_a']}+{d['num_b']} images "
                             f"but the data now has {len(self.a)}+{len(self.b)} — resume with "
                             "the same data (and data.do_validation settings)")
        for key in ("batch_size", "resolution", "scale", "paired", "mirror"):
            if d[key] != getattr(self, key):
                raise MsganError(f"the checkpoint's sampler used {key}={d[key]} but now it is "
                                 f"{getattr(self, key)} — resume with the same settings")
        self.seed = int(d["seed"])
        self.batches = int(d["batches"])
