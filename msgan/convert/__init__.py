"""``msgan convert``: NVIDIA's StyleGAN2 network pickles → a msgan model folder.

Reads stylegan2-ada-pytorch snapshots (``network-snapshot-*.pkl``, NVIDIA's published SG2A
pickles) and TensorFlow-era StyleGAN2 / StyleGAN2-ADA pickles with a restricted unpickler
(``unpickle.py``: numbers and names only, no code from the pickle ever runs), maps their
networks onto msgan's StyleGAN2 (``sg2a.py``, ``tf.py``) and writes the folder
(``writer.py``) that ``msgan generate --model``, ``msgan export``, predict mode and
``train.init_from`` take. msgan downloads nothing: the user passes the file.
"""
from __future__ import annotations

import hashlib
import logging
import os

from msgan.convert import sg2a, tf, unpickle, writer
from msgan.errors import MsganError

log = logging.getLogger("msgan")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def class_names(given: str | None, num_classes: int) -> list:
    """"0".."N-1", or the comma-separated names the user gave (exactly N, distinct)."""
    if given is None:
        return [str(i) for i in range(num_classes)]
    names = [n.strip() for n in given.split(",")]
    if num_classes == 0:
        raise MsganError(f"--class-names names {len(names)} classes but the network is "
                         "unconditional — leave --class-names out")
    if len(names) != num_classes or not all(names):
        raise MsganError(f"--class-names names {len(names)} classes but the network has "
                         f"{num_classes} — give {num_classes} comma-separated names")
    if len(set(names)) != len(names):
        raise MsganError("--class-names repeats a name — give each class its own name")
    bad = [n for n in names if n in (".", "..") or "/" in n or "\\" in n]
    if bad:
        raise MsganError(f"--class-names holds {bad[0]!r}, which cannot name a folder — use "
                         "plain names")
    return names


def read(path: str):
    """(Converted, notes) of the network pickle at ``path``."""
    if not os.path.isfile(path):
        raise MsganError(f"{path} is not a file — pass a network pickle (.pkl)")
    data = unpickle.load(path)
    notes: list = []
    if sg2a.is_sg2a(data):
        c = sg2a.read(data, notes)
        c.kimg = sg2a.kimg_from_name(os.path.basename(path))
    elif tf.is_tf(data):
        c = tf.read(data, notes)
    else:
        raise MsganError(f"{path} {sg2a.NOT_A_NETWORK}")
    return c


def convert(path: str, out: str, names: str | None = None, force: bool = False) -> dict:
    """Convert the pickle at ``path`` into the model folder ``out``; returns its meta."""
    writer.check_out(out, force)
    c = read(path)
    classes = class_names(names, c.num_classes)
    source = {"kind": c.kind, "file": os.path.basename(path), "sha256": _sha256(path),
              "kimg": c.kimg, "augment_p": c.augment_p, "notes": list(c.notes),
              "licence": "the weights keep the licence of the network they came from "
                         "(NVIDIA's networks: Nvidia Source Code License-NC)"}
    meta = writer.write(out, c, classes, source, force)
    for note in c.notes:
        log.info("note: %s", note)
    return meta
