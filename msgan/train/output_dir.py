"""The run's output folder: lock it, refuse one that holds a run, reuse an early failed start's."""
from __future__ import annotations

import logging
import os
import shutil

from msgan import io, runlock
from msgan.config import Config
from msgan.errors import MsganError
from msgan.runtime import setup_logging

log = logging.getLogger("msgan")

# Everything msgan writes into an output folder; --force removes only these.
OUTPUT_ENTRIES = ("config.yaml", "validation.json", "stats.jsonl", "log.txt", "checkpoints",
                  "model", "samples", "Data", "output_0.manifest", "builtin_data",
                  "metrics_extractor.json", "quality.json", "report.html")


def prepare_output_dir(cfg: Config, force: bool = False) -> str:
    out = os.path.abspath(cfg.output_dir)
    data_path = cfg.data.path
    if not data_path.startswith("builtin:"):
        data_real = os.path.realpath(data_path)
        out_real = os.path.realpath(out)
        if out_real == data_real or out_real.startswith(data_real + os.sep):
            raise MsganError(f"output_dir {out} is inside the input folder {data_path} — msgan "
                             "never writes into the input; choose an output_dir outside it")
    if os.path.isfile(out):
        raise MsganError(f"output_dir {out} is a file — choose a folder path")
    _writable(out)
    # Before anything in the folder changes (--force deletes): a second run on it stops here.
    # The caller releases it (runlock.release) when the run ends; the OS does if it dies.
    runlock.acquire(out, "wait for that run to finish or stop it, or choose another output_dir=")
    try:
        reuse = _clear(out, cfg, force)
    except BaseException:
        runlock.release(out)
        raise
    if reuse:
        setup_logging(out)     # so this line lands in log.txt after the earlier start's lines
        log.info("output_dir %s held an earlier start that stopped before its first snapshot "
                 "(no snapshot, export or generated image): reusing it", out)
    return out


def _clear(out: str, cfg: Config, force: bool) -> bool:
    """Remove an earlier run's outputs (with ``force``), or refuse; True when ``out`` held only
    an early failed start, which this run reuses."""
    existing = [e for e in OUTPUT_ENTRIES if os.path.exists(os.path.join(out, e))]
    if not existing or cfg.train.resume or cfg.generate.predict:
        return False
    results = run_results(out)
    if results and not force:
        raise MsganError(f"output_dir {out} already holds a run ({', '.join(results)}) — "
                         "continue it with train.resume=auto, overwrite it with --force, "
                         "or set another output_dir=")
    # A start that stopped before its first snapshot (a wrong data.path, Ctrl-C while
    # validating) left only config, log and empty folders: not a run, so its retry goes
    # on in the same folder. Its log.txt stays: the new lines follow the old ones.
    reuse = not results
    for e in existing:
        p = os.path.join(out, e)
        if reuse and e in ("log.txt", "builtin_data"):
            continue
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    return reuse


def _writable(out: str) -> None:
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, f".msgan-write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise MsganError(f"cannot write to output_dir {out} ({e.strerror}) — choose a folder "
                         "you can write to") from None


def run_results(out: str) -> list:
    """What makes ``out`` a run worth keeping: snapshots, exports, generated images."""
    found = []
    if io.list_snapshots(os.path.join(out, "checkpoints")):
        found.append("snapshots")
    model = os.path.join(out, "model")
    if os.path.isdir(model) and any(not n.startswith(".") for n in os.listdir(model)):
        found.append("exports")
    data = os.path.join(out, "Data")
    if any(not f.startswith(".") for _, _, files in os.walk(data) for f in files):
        found.append("generated images")
    return found
