"""model/: each snapshot's generator exports and the final ones, with their parity checks."""
from __future__ import annotations

import logging
import os
import shutil

from msgan.inference.export import export_generator

log = logging.getLogger("msgan")


class Exports:
    """Exports of ``{name: (net, meta)}`` as ``model/<name>-<kimg tag>.*`` per snapshot, and the
    final ``model/<stem>.*``: a copy of the last snapshot's files when they hold these weights."""

    def __init__(self, model_dir: str, formats):
        self.dir, self.formats = model_dir, tuple(formats)
        self.last = (None, None)     # (iteration, tag) of the last snapshot's exports

    def export(self, stem: str, net, meta: dict) -> dict:
        if not self.formats:
            return {}
        result = export_generator(net, dict(meta), stem, formats=self.formats)
        for fmt, r in result.items():
            if not r.get("ok"):
                log.warning("export %s of %s did not reproduce the checkpoint (%s)", fmt,
                            os.path.basename(stem),
                            r.get("error") or f"max abs diff {r.get('max_abs_diff')}")
        return result

    def snapshot(self, nets: dict, it: int, tag: str) -> None:
        for name, (net, meta) in nets.items():
            self.export(os.path.join(self.dir, f"{name}-{tag}"), net, meta)
        self.last = (it, tag)

    def final(self, name: str, stem: str, current, it: int) -> None:
        """``current`` = (net, meta) of the weights to export; a copy when the last snapshot
        exported ``name`` at iteration ``it``."""
        done_it, tag = self.last
        if done_it == it:
            copy_export(os.path.join(self.dir, f"{name}-{tag}"), os.path.join(self.dir, stem))
        else:
            self.export(os.path.join(self.dir, stem), *current)


def copy_export(src_stem: str, dst_stem: str) -> None:
    """Copy an export's files (.json last, so a sidecar never describes a missing model)."""
    for ext in (".mindir", ".onnx", ".json"):
        if os.path.exists(dst_stem + ext):
            os.remove(dst_stem + ext)
        if os.path.exists(src_stem + ext):
            shutil.copyfile(src_stem + ext, dst_stem + ext + ".tmp")
            os.replace(dst_stem + ext + ".tmp", dst_stem + ext)
