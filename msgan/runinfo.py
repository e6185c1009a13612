"""What ``msgan evaluate`` reads from the run folder its images or model come from.

A run's snapshot KID (``stats.jsonl``) and ``msgan evaluate``'s KID use the same classifier
recipe (``msgan.metrics.extractor``), so with the run's settings (resolution, channels, seed,
classifier epochs, the same reals) they are the same measurement and differ only by which
generated images are scored. This module fills in those settings and says, in the output,
whether the two numbers can be compared and why they may differ.
"""
from __future__ import annotations

import json
import os

import yaml

from msgan.io import read_stats
from msgan.snapshots import recorded_run_model

FALLBACK = {"resolution": 64, "channels": 3, "seed": 0, "epochs": 30, "extractor": "classifier",
            "mirror": False}
# evaluate option -> the run's config key it defaults to
FROM_CONFIG = {"resolution": ("data", "resolution"), "channels": ("data", "channels"),
               "seed": ("train", "seed"), "epochs": ("metrics", "classifier_epochs"),
               "extractor": ("metrics", "extractor"),
               "inception_checkpoint": ("metrics", "inception_checkpoint"),
               "mirror": ("data", "mirror")}


def find_run(path: str) -> str | None:
    """The run folder ``path`` belongs to: itself, its ``Data/``, a model or snapshot in it."""
    p = os.path.abspath(path)
    for folder in (p, os.path.dirname(p), os.path.dirname(os.path.dirname(p))):
        if os.path.isfile(os.path.join(folder, "config.yaml")) and os.path.isdir(
                os.path.join(folder, "checkpoints")):
            return folder
    return None


def read_config(run: str) -> dict:
    try:
        with open(os.path.join(run, "config.yaml"), encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def fill_defaults(args, run: str | None) -> dict:
    """Set every evaluate option left unset from the run's config (else FALLBACK); returns
    the options taken from the run, for one log line."""
    cfg = read_config(run) if run else {}
    taken = {}
    for opt, (section, key) in FROM_CONFIG.items():
        if getattr(args, opt) is not None:
            continue
        value = (cfg.get(section) or {}).get(key)
        if opt == "extractor" and value not in ("classifier", "inception"):
            value = None           # a run with metrics.extractor=none scored nothing
        if opt == "inception_checkpoint" and not value:
            value = None
        if value is not None:
            taken[opt] = value
        setattr(args, opt, value if value is not None else FALLBACK.get(opt))
    return taken


def _scored(run: str) -> list:
    return [row for row in read_stats(os.path.join(run, "stats.jsonl"))
            if row.get("snapshot") and row.get("kid") is not None]


def _row_for(run: str, fake: str, rows: list) -> dict | None:
    """The scored snapshot whose generator made ``fake`` (a model, a snapshot, or Data/)."""
    latest = {r["snapshot"]: r for r in rows}     # a snapshot rescored keeps its last row
    name = os.path.basename(fake)
    if name in latest:
        return latest[name]
    sidecar = os.path.splitext(fake)[0] + ".json"
    if os.path.isfile(fake) and os.path.isfile(sidecar):
        with open(sidecar, encoding="utf-8") as f:
            kimg = json.load(f).get("kimg")
        hits = [r for r in latest.values() if kimg is not None and abs(r["kimg"] - kimg) < 1e-6]
        return hits[-1] if hits else None
    # Data/ of the run (or the run folder as a model): the snapshot that wrote Data/
    made = recorded_run_model(os.path.join(run, "checkpoints"))
    if made and os.path.basename(made[0]) in latest:
        return latest[os.path.basename(made[0])]
    if (read_config(run).get("generate") or {}).get("use_snapshot", "best") == "best":
        from msgan.metrics.evaluate import best_snapshot
        best = best_snapshot(rows)
        if best:
            return latest[best]
    return list(latest.values())[-1] if latest else None


def compare_with_run(run: str, fake: str, real_dir: str, args, result: dict) -> tuple:
    """(the run's snapshot row or None, one line saying whether and why the KIDs differ)."""
    rows = _scored(run)
    row = _row_for(run, fake, rows) if rows else None
    if row is None:
        return None, (f"{run} has no snapshot KID to compare with (metrics.extractor=none, or "
                      "no snapshot of this generator was scored)")
    cfg = read_config(run)
    mismatches = []
    for opt, (section, key) in FROM_CONFIG.items():
        if opt in ("inception_checkpoint", "mirror"):   # mirror: the benefit report's only
            continue
        want = (cfg.get(section) or {}).get(key)
        if want is not None and getattr(args, opt) != want:
            mismatches.append(f"--{opt.replace('_', '-')} {getattr(args, opt)} (run: "
                              f"{section}.{key}={want})")
    reals = _reals_root(run)
    if reals and os.path.realpath(reals) != os.path.realpath(real_dir):
        mismatches.append(f"REAL_DIR {real_dir} (run: {reals})")
    kid = result["overall"]["kid"]
    here = "n/a" if kid is None else f"{kid:.4g} ± {result['overall']['kid_std']:.2g}"
    run_kid = f"{row['kid']:.4g}" + (f" ± {row['kid_std']:.2g}" if row.get("kid_std") else "")
    if mismatches:
        return row, (f"KID {here} is not comparable with the run's {row['snapshot']} KID "
                     f"{run_kid}: a different feature extractor is trained when "
                     f"{'; '.join(mismatches)} — drop those options to measure the same way")
    return row, (f"KID {here} on the {result['overall']['n_fake']} images given vs the run's "
                 f"{row['snapshot']} KID {run_kid} on {row.get('n_fake')} images from fixed "
                 "latents in the reals' class mix: same reals, same extractor recipe and seed, "
                 "so they differ only by the images scored (and sampling noise, ± above)")


def _reals_root(run: str) -> str | None:
    try:
        with open(os.path.join(run, "validation.json"), encoding="utf-8") as f:
            return json.load(f).get("root")
    except (OSError, ValueError):
        return None
