"""The ModelArts operator's predict mode (``generate.predict=true``): no training, only images
from the model in ``generate.resume``, written like a training run's final outputs."""
from __future__ import annotations

import logging
import os

from msgan import runtime
from msgan.config import Config, dump_config
from msgan.inference.generate import generate, load_sampler
from msgan.inference.translate import load_translator, translate_folder
from msgan.models import MODELS

log = logging.getLogger("msgan")


def predict(cfg: Config) -> str:
    """Generate ``generate.generate_num`` images per class into ``output_dir`` (image-to-image
    models translate the images of ``data.path`` instead); returns the output folder."""
    out = os.path.abspath(cfg.output_dir)
    os.makedirs(out, exist_ok=True)
    runtime.setup_logging(out)
    runtime.select_device(cfg.device_target)
    dump_config(cfg, os.path.join(out, "config.yaml"))
    g = cfg.generate
    if MODELS[cfg.model.name].task == "translate":
        paths, _ = translate_folder(load_translator(g.resume), cfg.data.path, out, fmt=g.format,
                                    progress=cfg.train.progress)
        log.info("translated %d images into %s", len(paths), os.path.join(out, "Data"))
        return out
    sampler = load_sampler(g.resume)
    paths = generate(sampler, out, g.generate_num, seed=g.seed, truncation=g.truncation,
                     fmt=g.format, progress=cfg.train.progress)
    log.info("generated %d images in %s", len(paths), os.path.join(out, "Data"))
    return out
