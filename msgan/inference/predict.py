"""The ModelArts operator's predict mode (``generate.predict=true``): no training, only images
from the model in ``generate.resume``, written like a training run's final outputs."""
from __future__ import annotations

import dataclasses
import logging
import os

from msgan import runlock, runtime
from msgan.config import Config, dump_config, model_config
from msgan.data import builtin
from msgan.data.folder import scan_folder
from msgan.errors import MsganError
from msgan.inference import empty_classes
from msgan.inference.balance import generation_counts
from msgan.inference.generate import generate, load_sampler
from msgan.inference.translate import load_translator, translate_folder
from msgan.models import MODELS

log = logging.getLogger("msgan")


def predict(cfg: Config, make_filter=None) -> str:
    """Generate ``generate.generate_num`` images per class into ``output_dir`` (image-to-image
    models translate the images of ``data.path`` instead); returns the output folder.

    ``make_filter(reals_dir, meta)`` builds generate.filter's judge (an object with ``accept`` and
    ``report``) from the class folder in ``data.path``; the caller passes it because the judge is
    a metrics classifier, which this layer does not import."""
    out = os.path.abspath(cfg.output_dir)
    # one msgan writer per folder: not into a folder a run or another predict run is writing
    runlock.acquire(out, "wait for it to finish, or choose another output_dir=")
    try:
        return _predict(cfg, out, make_filter)
    finally:
        runlock.release(out)


def _predict(cfg: Config, out: str, make_filter) -> str:
    runtime.setup_logging(out)
    runtime.select_device(cfg.device_target)
    g = cfg.generate
    if MODELS[cfg.model.name].task == "translate":
        dump_config(cfg, os.path.join(out, "config.yaml"))
        paths, _ = translate_folder(load_translator(g.resume), cfg.data.path, out, fmt=g.format,
                                    progress=cfg.train.progress)
        log.info("translated %s into %s", _count(len(paths), "image"), os.path.join(out, "Data"))
        log.info("done: %s", out)
        return out
    sampler = load_sampler(g.resume)
    cfg = _as_made(cfg, sampler.meta)
    dump_config(cfg, os.path.join(out, "config.yaml"))
    counts = _balanced_counts(cfg, sampler.meta, out) if g.balance is not False else None
    keep, tally = _class_filter(cfg, sampler.meta, make_filter, out), {}
    paths = generate(sampler, out, g.generate_num, seed=g.seed, truncation=g.truncation,
                     fmt=g.format, progress=cfg.train.progress, counts=counts,
                     accept=keep.accept if keep else None, tries=g.filter_tries, tally=tally,
                     keep_class=keep.keep_class if keep else None)
    log.info("generated %s in %s (manifest: %s)", _count(len(paths), "image"),
             os.path.join(out, "Data"), os.path.join(out, "output_0.manifest"))
    if keep:
        keep.report(tally, out, g.filter_tries)
    classes = [str(c) for c in sampler.meta.get("classes") or []]
    if classes:          # a class with no image says why (log, quality.json)
        empty_classes.record(out, empty_classes.reasons(classes, counts, tally))
    log.info("done: %s", out)
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _as_made(cfg: Config, meta: dict) -> Config:
    """The config predict mode records: the model's own name, keys, resolution and channels
    (what the images were made with), not the YAML's, which a model alone does not follow."""
    d = cfg.data
    name = meta.get("model", cfg.model.name)
    model = cfg.model
    if name not in MODELS:
        name = cfg.model.name
    elif isinstance(meta.get("model_cfg"), dict):
        try:
            model = model_config(name, meta["model_cfg"])
        except MsganError:     # a model written by an older msgan: its keys as they were
            name = cfg.model.name
    res, ch = int(meta.get("resolution", d.resolution)), int(meta.get("channels", d.channels))
    changed = [f"{key} {old} → {new}" for key, old, new in
               (("model.name", cfg.model.name, name), ("data.resolution", d.resolution, res),
                ("data.channels", d.channels, ch)) if old != new]
    if changed:
        log.info("predict: the model in %s makes %d² %s images; config.yaml records what was "
                 "made (%s)", cfg.generate.resume, res, "greyscale" if ch == 1 else "RGB",
                 ", ".join(changed))
    return dataclasses.replace(cfg, model=model,
                               data=dataclasses.replace(d, resolution=res, channels=ch))


def _balanced_counts(cfg: Config, meta: dict, out: str):
    """generate.balance (true or auto) for a model alone: the class sizes come from the class
    folder in data.path, so a trained run can be given balanced images without training again.
    Image files are counted (a training run counts those that load: they differ only where
    files are broken). None (generate_num for every class) where auto has no folder to count."""
    g = cfg.generate
    classes = [str(c) for c in meta.get("classes") or []]
    if len(classes) < 2:
        if g.balance is True:
            log.warning("generate.balance ignored: the model has no classes to balance")
        return None
    reals = builtin.resolve_data_path(cfg.data.path, os.path.join(out, "builtin_data"))
    if not os.path.isdir(reals):
        if g.balance == "auto":
            log.info("generate.balance=auto: data.path (%s) is not a class folder, so the class "
                     "sizes are unknown and every class gets generate_num", cfg.data.path)
            return None
        raise MsganError(f"generate.balance=true counts the images of each class in data.path, "
                         f"and data.path ({cfg.data.path}) is not a folder — set data.path to "
                         "the class folder the model was trained on")
    found = scan_folder(reals).counts()
    missing = [c for c in classes if c not in found]
    if missing:
        raise MsganError(f"data.path {reals} has no folder for the model's class(es) "
                         f"{', '.join(missing)} — set data.path to the class folder the model "
                         "was trained on")
    counts, why = generation_counts({c: found[c] for c in classes}, g)
    log.info("%s (class sizes from %s)", why, reals)
    return counts


def _class_filter(cfg: Config, meta: dict, make_filter, out: str):
    """generate.filter's judge for predict mode, or None with a warning where it cannot be
    built: a training run judges by its own reals, a model alone needs them in data.path."""
    if cfg.generate.filter != "classifier" or len(meta.get("classes") or []) < 2 \
            or make_filter is None:
        return None
    reals = builtin.resolve_data_path(cfg.data.path, os.path.join(out, "builtin_data"))
    if not os.path.isdir(reals):
        log.warning("WARNING: images not filtered: generate.filter=classifier keeps an image "
                    "only when a classifier of the reals sees its class in it, and data.path "
                    "(%s) is not a folder — set data.path to the class folder the model was "
                    "trained on (generate.filter=none writes every image without this warning)",
                    cfg.data.path)
        return None
    return make_filter(reals, meta)
