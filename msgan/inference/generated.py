"""The ``Data/`` folder and ``output_0.manifest`` that generation and translation write:
getting the folder ready, the images, the manifest lines and the manifest.

msgan deletes only files it wrote. ``Data/.msgan-generated`` lists every image (relative to
``Data/``) before it is written, so replacing earlier output removes exactly those files, even
after a crash mid-way; a file a user put in ``Data/`` is never touched. Markers of older msgan
versions are empty: the earlier manifest's ``source`` paths stand in for the list.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os

import numpy as np
from PIL import Image

from msgan.errors import MsganError
from msgan.io import append_text, atomic_path, write_text

log = logging.getLogger("msgan")

MARKER = ".msgan-generated"
MANIFEST = "output_0.manifest"
FORMATS = ("png", "jpg")


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise MsganError(f"image format {fmt!r} is not supported — use png or jpg")


def start(out_dir: str, overwrite: bool, manifest_name: str = MANIFEST) -> str:
    """Make ``out_dir/Data`` ready for new images; returns its absolute path.

    Earlier msgan output there is replaced when ``overwrite``, otherwise refused; a ``Data/``
    that msgan did not write is always refused.
    """
    data_dir = os.path.abspath(os.path.join(out_dir, "Data"))
    manifest = os.path.join(os.path.abspath(out_dir), manifest_name)
    entries = _entries(data_dir)
    if entries and not os.path.isfile(os.path.join(data_dir, MARKER)):
        raise MsganError(f"{data_dir} already holds files msgan did not write — pass an "
                         "output folder without a Data/ folder")
    if (entries or os.path.isfile(manifest)) and not overwrite:
        raise MsganError(f"{out_dir} already holds generated images (Data/, {manifest_name}) — "
                         "pass --force to replace them (files msgan did not write are kept), "
                         "or choose another --out")
    if entries:
        _remove_ours(data_dir, manifest)
    if os.path.isfile(manifest):
        os.remove(manifest)
    os.makedirs(data_dir, exist_ok=True)
    write_text(os.path.join(data_dir, MARKER), "")
    return data_dir


def claim(data_dir: str, paths) -> None:
    """Record ``paths`` (absolute, inside ``data_dir``) as msgan's before writing them."""
    rel = [os.path.relpath(p, data_dir) for p in paths]
    append_text(os.path.join(data_dir, MARKER), "".join(r + "\n" for r in rel))


def save_image(img: np.ndarray, path: str) -> None:
    """uint8 (C, R, R) → greyscale (L) or RGB image; the suffix picks PNG or JPEG."""
    pixels = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    extra = {"quality": 95} if path.endswith(".jpg") else {}
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, **extra)


def manifest_line(image_id: str, path: str, label: str | None = None) -> str:
    """One ModelArts manifest line for the image at ``path`` (absolute), labelled or not."""
    annotation = ([{"name": label, "type": "modelarts/image_classification"}]
                  if label is not None else [])
    return json.dumps({"id": image_id, "source": path, "usage": "train",
                       "annotation": annotation})


def write_manifest(out_dir: str, lines: list, manifest_name: str = MANIFEST) -> None:
    write_text(os.path.join(out_dir, manifest_name), "".join(x + "\n" for x in lines))


@contextlib.contextmanager
def manifest_writer(out_dir: str, manifest_name: str = MANIFEST):
    """Yield ``add(line)``: lines go to a temporary file as their images are written, so no
    run holds its whole manifest in memory; the manifest appears, by one rename, only when the
    block ends without an error (a failed run leaves none, not a partial one)."""
    path = os.path.join(out_dir, manifest_name)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yield lambda line: f.write(line + "\n")


def _entries(data_dir: str) -> list:
    return os.listdir(data_dir) if os.path.isdir(data_dir) else []


def _ours(data_dir: str, manifest: str) -> set:
    """Absolute paths of the files msgan wrote into ``data_dir`` (marker list + manifest)."""
    with open(os.path.join(data_dir, MARKER), encoding="utf-8") as f:
        listed = {os.path.normpath(os.path.join(data_dir, r.rstrip("\n")))
                  for r in f if r.strip()}
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            for line in f:
                try:
                    listed.add(os.path.normpath(json.loads(line)["source"]))
                except (ValueError, KeyError, TypeError):
                    continue       # a hand-edited line names nothing we can trust
    inside = data_dir + os.sep
    return {p for p in listed if p.startswith(inside)}


def _remove_ours(data_dir: str, manifest: str) -> None:
    for p in _ours(data_dir, manifest):
        if os.path.isfile(p):
            os.remove(p)
    kept = 0
    for root, dirs, files in os.walk(data_dir, topdown=False):
        kept += len([f for f in files if not (root == data_dir and f == MARKER)])
        if root != data_dir and not os.listdir(root):
            os.rmdir(root)       # class folders msgan emptied
    if kept:
        log.warning("kept %d file%s in %s that msgan did not write", kept, "s" * (kept != 1),
                    data_dir)
