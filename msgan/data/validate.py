"""Decode every image once before training and keep only the ones that can be used.

A broken file should cost the user one line in ``validation.json``, not a crash an hour into
training. Each problem is one of: zero_bytes, not_an_image, corrupt, too_small, too_large,
unreadable. The report also carries the per-class counts and advice (the ModelArts operator
recommends at least 70 images per class).
"""
from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from PIL import Image, ImageOps

from msgan.data.folder import ImageSet
from msgan.data.pipeline import convert_mode
from msgan.errors import MsganError
from msgan.io import write_json

# 100 megapixels (≈10000×10000): larger images would need gigabytes just to decode. Pillow's own
# bomb check (warning at ~89 MP) is silenced while validating; this limit decides instead.
MAX_PIXELS = 100_000_000
RECOMMENDED_PER_CLASS = 70
MIN_PER_CLASS = 2
# A folder whose largest class has at least this many times the images of its smallest is
# imbalanced: generate.balance=auto balances it, and the benefit check also compares with a
# classifier that repeats its small classes' reals (the measured sets had 100 vs 15; ratios near
# 2 were not measured).
IMBALANCED = 2.0


def is_imbalanced(counts) -> bool:
    """Whether class counts (images per class; classes with none are left out) span at least
    ``IMBALANCED`` times."""
    sizes = [int(n) for n in counts if n > 0]
    return len(sizes) >= 2 and max(sizes) >= IMBALANCED * min(sizes)


def _problem(path: str, kind: str, detail: str) -> Dict[str, str]:
    return {"file": path, "problem": kind, "detail": detail}


def check_image(path: str, channels: int, min_size: int) -> Tuple[Optional[Dict], int]:
    """Decode ``path`` fully. Returns (problem or None, shorter side in pixels)."""
    try:
        if os.path.getsize(path) == 0:
            return _problem(path, "zero_bytes", "file is empty"), 0
    except OSError as e:
        return _problem(path, "unreadable", e.strerror or str(e)), 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    return _problem(path, "too_large", f"{w}x{h} pixels is over the "
                                    f"{MAX_PIXELS // 1_000_000} megapixel limit"), min(w, h)
                fmt = img.format
                img.load()
                try:
                    img = ImageOps.exif_transpose(img)
                except Exception:   # bad EXIF only loses the orientation, as in load_image
                    pass
                try:
                    convert_mode(img, channels)
                except Exception as e:
                    return _problem(path, "corrupt", f"cannot convert {fmt} mode {img.mode} "
                                    f"to {'greyscale' if channels == 1 else 'RGB'}: {e}"), 0
    except Image.DecompressionBombError as e:
        return _problem(path, "too_large", str(e)), 0
    except Image.UnidentifiedImageError:
        return _problem(path, "not_an_image", "not a format Pillow can read"), 0
    except (PermissionError, FileNotFoundError, IsADirectoryError) as e:
        return _problem(path, "unreadable", e.strerror or str(e)), 0
    except Exception as e:   # truncated data, bad chunks/CRCs, decoder errors of every kind
        return _problem(path, "corrupt", f"{type(e).__name__}: {e}"), 0
    if min(w, h) < min_size:
        return _problem(path, "too_small", f"{w}x{h}; the shorter side must be at least "
                        f"{min_size} px (data.min_size)"), min(w, h)
    return None, min(w, h)


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def check_report_path(report_path: Optional[str], root: str) -> None:
    """Refuse a report inside the input folder before any work is done."""
    if report_path is not None and _inside(report_path, root):
        raise MsganError(f"validation report {report_path} would be written inside the input "
                         f"folder {root} — msgan never writes there; choose an output folder "
                         "outside it")


def write_report(report: Dict, path: str) -> None:
    """validation.json, atomically; odd (undecodable) file names are kept as backslash
    escapes, not a crash."""
    write_json(path, report, ensure_ascii=False, errors="backslashreplace")


def _warnings(image_set: ImageSet, kept: Dict[str, int], short_sides: List[int],
              resolution: int) -> List[str]:
    out = []
    for name, n in kept.items():
        if n < RECOMMENDED_PER_CLASS:
            if image_set.conditional:
                out.append(f"class '{name}' has {n} usable images; at least "
                           f"{RECOMMENDED_PER_CLASS} per class are recommended")
            else:
                out.append(f"the folder has {n} usable images; at least "
                           f"{RECOMMENDED_PER_CLASS} are recommended")
    return out


Ranges = Mapping[str, Tuple[int, int]]   # model name → smallest, largest data.resolution


def upscale_advice(median: float, resolution: int, model: Optional[str],
                   ranges: Ranges) -> Tuple[str, str]:
    """(warning, note) about images smaller than ``resolution``; each may be "".

    A warning names a resolution the model can be built at; ``ranges`` holds the resolution
    range of ``model``, or with ``model`` None (``msgan validate``) of every model the advice
    may name, listed by their smallest. When the model's smallest resolution is the one in use
    there is nothing to change, so it is only a note. The caller passes the ranges (from
    msgan.models.MODELS) so that data/ stays free of model code.
    """
    if median >= resolution / 2:
        return "", ""
    target = 1 << max(int(np.ceil(np.log2(max(median, 1.0)))), 0)   # at most 2x upscaling
    fact = (f"median shorter side is {median:g} px, so most images are upscaled more than 2x "
            f"to {resolution} px and will look blurry")
    if model is None:
        by_lo = sorted(ranges.items(), key=lambda item: item[1][0])
        smallest = ", ".join(f"{m} {lo}" for m, (lo, _) in by_lo)
        return (f"{fact}; consider --resolution / data.resolution={target} if the model "
                f"allows it" + (f" (smallest: {smallest})" if smallest else ""), "")
    lo, hi = ranges[model]
    suggestion = max(target, lo)
    if suggestion < resolution:
        return f"{fact}; consider data.resolution={suggestion} ({model} builds {lo} to {hi})", ""
    return "", (f"median shorter side is {median:g} px: images are upscaled "
                f"{resolution / median:.2g}x to {resolution} px, the smallest resolution "
                f"{model} builds; outputs will be as soft as the upscaled reals")


def do_validation(image_set: ImageSet, resolution: int, channels: int, min_size: int = 8,
                  report_path: Optional[str] = None, progress: bool = False,
                  model: Optional[str] = None, ranges: Optional[Ranges] = None) -> ImageSet:
    """Decode every file, write ``report_path`` (JSON) and return the usable subset.

    ``model`` and ``ranges`` make the advice fit it (a resolution it can be built at; see
    ``upscale_advice``)."""
    if model is not None and model not in (ranges or {}):
        raise ValueError(f"ranges must give {model}'s resolution range (MODELS[name].resolution)")
    check_report_path(report_path, image_set.root)
    files = image_set.files
    if progress:
        from msgan.progress import Bar
        files = Bar(files, desc="validating images", unit="img")
    problems, keep, short_sides, sizes = [], [], [], []
    for i, path in enumerate(files):
        problem, short = check_image(path, channels, min_size)
        if problem is None:
            try:
                sizes.append(os.path.getsize(path))
            except OSError as e:   # gone since it was decoded, a moment ago
                problems.append(_problem(path, "unreadable", e.strerror or str(e)))
                continue
            keep.append(i)
            short_sides.append(short)
        else:
            problems.append(problem)

    usable = image_set.subset(keep).with_sizes(sizes)
    found, kept = image_set.counts(), usable.counts()
    warnings_ = _warnings(image_set, kept, short_sides, resolution)
    upscale, note = (upscale_advice(float(np.median(short_sides)), resolution, model,
                                    ranges or {}) if short_sides else ("", ""))
    report = {
        "root": image_set.root,
        "layout": image_set.layout,
        "resolution": resolution,
        "channels": channels,
        "min_size": min_size,
        "counts": {name: {"found": found[name], "kept": kept[name]} for name in found},
        "problems": problems,
        "skipped": [{"path": p, "reason": r} for p, r in image_set.skipped],
        "outside_folder": [{"path": p, "target": t} for p, t in image_set.outside],
        "warnings": warnings_ + ([upscale] if upscale else []),
        "notes": [note] if note else [],
        "summary": {"found": len(image_set), "kept": len(usable), "problems": len(problems),
                    "skipped": len(image_set.skipped)},
    }
    if image_set.outside:
        report["summary"]["outside_folder"] = len(image_set.outside)
    if report_path is not None:
        write_report(report, report_path)
    check_enough(usable, Counter(p["problem"] for p in problems), report_path)
    return usable


def check_enough(usable: ImageSet, left_out: Mapping[str, int],
                 report_path: Optional[str] = None) -> None:
    """Refuse a folder with no usable image, or a class with fewer than MIN_PER_CLASS;
    ``left_out`` counts the files left out by kind, for the message."""
    see = f" (details in {report_path})" if report_path is not None else ""
    if len(usable) == 0:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(left_out.items()))
        total = sum(left_out.values())
        raise MsganError(f"no usable images in {usable.root}: all {total} files "
                         f"have problems ({kinds}){see} — fix or replace the files")
    if usable.conditional:
        for name, n in usable.counts().items():
            if n < MIN_PER_CLASS:
                folder = os.path.join(usable.root, name)
                raise MsganError(f"class '{name}' has {n} usable image{'s' * (n != 1)}; at "
                                 f"least {MIN_PER_CLASS} are needed{see} — add images to "
                                 f"{folder} or move that folder out of the data folder")


def record_changes(report_path: str, usable: ImageSet, changed: List[Dict]) -> Dict:
    """Add the files that changed between validation and loading (``changed``: path, reason,
    detail; ``usable``: what is left) to validation.json; returns the updated report."""
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    report["changed_since_scan"] = changed
    kept = usable.counts()
    for name, c in report["counts"].items():
        c["kept"] = kept.get(name, 0)
    report["summary"]["kept"] = len(usable)
    report["summary"]["changed_since_scan"] = len(changed)
    write_report(report, report_path)
    return report


def changed_line(changed: List[Dict]) -> str:
    """One line on the files that changed between validation and loading."""
    kinds = Counter(c["reason"] for c in changed)
    detail = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
    return (f"{len(changed)} file{'s' * (len(changed) != 1)} changed after validation and "
            f"{'were' if len(changed) != 1 else 'was'} left out ({detail}, e.g. "
            f"{changed[0]['path']}); see changed_since_scan in validation.json")


def validation_summary(report: Dict) -> str:
    """One to six human lines for the CLI."""
    s = report["summary"]
    classes = [c for c in report["counts"] if c]
    where = f" in {len(classes)} classes" if classes else ""
    colour = "greyscale" if report["channels"] == 1 else "RGB"
    lines = [f"validation: {s['kept']} of {s['found']} images usable{where} "
             f"({report['layout']}, {report['resolution']}px {colour})"]
    if report["problems"] or report["skipped"]:
        kinds = Counter(p["problem"] for p in report["problems"])
        detail = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
        parts = []
        if report["problems"]:
            n = len(report["problems"])
            parts.append(f"{n} file{'s' * (n != 1)} left out ({detail})")
        if report["skipped"]:
            n = len(report["skipped"])
            parts.append(f"{n} other entr{'ies' if n != 1 else 'y'} ignored")
        lines.append("; ".join(parts))
    if report.get("changed_since_scan"):
        lines.append(changed_line(report["changed_since_scan"]))
    outside = report.get("outside_folder") or []
    if outside:
        first = outside[0]
        lines.append(f"note: {len(outside)} link{'s' * (len(outside) != 1)} in the data folder "
                     f"lead{'s' * (len(outside) == 1)} outside it and "
                     f"{'are' if len(outside) != 1 else 'is'} used (e.g. {first['path']} -> "
                     f"{first['target']}); see outside_folder in validation.json")
    if report["warnings"]:
        more = len(report["warnings"]) - 1
        lines.append("warning: " + report["warnings"][0]
                     + (f" (+{more} more in the report)" if more else ""))
    lines += ["note: " + n for n in report.get("notes", [])]
    return "\n".join(lines)
