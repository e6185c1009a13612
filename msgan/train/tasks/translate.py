"""The image-to-image task (pix2pix, CycleGAN, DiscoGAN, SRGAN): image pairs (or two unpaired
domains, or high-resolution images) in; input | output | target grids, one export per generator,
and at the end the held-out split translated into ``Data/`` with PSNR/SSIM where targets exist."""
from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from msgan.config import Config, export_batch, to_dict
from msgan.data import builtin, pairs
from msgan.data.pipeline import save_grid
from msgan.inference import generated, translate
from msgan.inference.samplers import CellSampler, generator_meta
from msgan.io import write_json
from msgan.metrics.image_quality import bicubic_upscale, image_quality
from msgan.models import MODELS

log = logging.getLogger("msgan")

QUALITY_FILE = "quality.json"     # PSNR/SSIM of the held-out split, written at the end


def domains(cfg: Config) -> dict:
    """generator → [input domain, output domain] as the user names them, from the data layout."""
    spec = MODELS[cfg.model.name]
    if spec.layout == "sr":
        return {name: ["LR", "HR"] for name in spec.generators}
    if spec.layout == "paired":
        src, dst = ("A", "B") if cfg.data.direction == "AtoB" else ("B", "A")
        return {name: [src, dst] for name in spec.generators}
    return {"G_AB": ["A", "B"], "G_BA": ["B", "A"]}


class TranslationTask:
    def __init__(self, cfg: Config, out_dir: str, rank: int = 0, world_size: int = 1):
        self.cfg, self.out = cfg, out_dir
        self.rank, self.world_size, self.main = rank, world_size, rank == 0
        self.num_classes = 0
        self._translators = None

    # -- data ------------------------------------------------------------------------------------
    def load(self) -> Config:
        cfg = self.cfg
        d, m = cfg.data, cfg.model
        self.scale = getattr(m, "scale", 1)
        report = os.path.join(self.out, "validation.json") if self.main else None
        path = builtin.resolve_data_path(d.path, os.path.join(self.out, "builtin_data"))
        ps = pairs.open_pairs(dataclasses.replace(d, path=path), m.name, MODELS[m.name].layout,
                              scale=self.scale, report_path=report)
        if self.main:
            log.info(pairs.pairs_summary(ps))
        self.layout = ps.layout
        self.train = pairs.load_split(ps, "train", d.load_size or d.resolution, d.channels,
                                      d.direction, d.resize, self.scale)
        self.test = pairs.load_split(ps, "test", d.resolution, d.channels, d.direction,
                                     d.resize, self.scale)
        res_in = d.resolution // self.scale
        self.meta = {"task": "translate", "model": m.name, "model_cfg": to_dict(m),
                     "layout": ps.layout, "generators": list(MODELS[m.name].generators),
                     "domains": domains(cfg), "direction": d.direction, "scale": self.scale,
                     "resolution": d.resolution, "channels": d.channels,
                     "input_shape": [d.channels, res_in, res_in], "inputs": ["x"],
                     "batch": export_batch(cfg), "kimg": 0.0}
        return cfg

    def sampler(self, seed: int):
        step, d = self.world_size, self.cfg.data
        return pairs.PairSampler(self.train.a[self.rank::step], self.train.b[self.rank::step],
                                 self.cfg.train.batch_size // step, seed=seed,
                                 resolution=d.resolution, paired=self.layout != "unpaired",
                                 mirror=d.mirror, scale=self.scale)

    def prepare_outputs(self, run) -> None:
        """Up to 8 fixed held-out pairs for the grids (train pairs without a held-out split)."""
        src = self.test if len(self.test.a) else self.train
        res = self.cfg.data.resolution
        self.grid_a = _center(src.a[:min(8, len(src.a))], res // self.scale)
        self.grid_b = _center(src.b[:min(8, len(src.b))], res)

    # -- snapshots -------------------------------------------------------------------------------
    def translators(self, phases) -> dict:
        """name → Translator over the eval generators: compiled once, refreshed per call."""
        gens = phases.generators()          # refreshes the eval copies' weights
        if self._translators is None:
            export_net = MODELS[self.cfg.model.name].export_net
            self._translators = {
                name: translate.Translator(CellSampler(export_net(g),
                                                       generator_meta(self.meta, name)))
                for name, g in gens.items()}
        return self._translators

    def save_samples(self, phases, path: str) -> None:
        """Rows of input | output | target (target: the paired truth, or the other domain's
        real image for unpaired data, where there is no truth)."""
        rows, res = [], self.cfg.data.resolution
        for name, tr in self.translators(phases).items():
            x = self.grid_a if name != "G_BA" else _center(self.grid_b, tr.input_shape[1])
            y = tr(x)
            target = self.grid_b if name != "G_BA" else self.grid_a
            for i in range(len(x)):
                rows += [_upsize(x[i], res), y[i], _upsize(target[i % len(target)], res)]
        save_grid(np.stack(rows), path, nrow=3)

    def score(self, phases):
        return None

    def best_snapshot(self, rows: list):
        return None

    def snapshot_weights(self, phases) -> dict:
        return phases.generators()      # one <name>.ckpt per generator, eval-mode weights

    def export_nets(self, phases) -> dict:
        export_net = MODELS[self.cfg.model.name].export_net
        return {name: (export_net(g), generator_meta(self.meta, name))
                for name, g in phases.generators().items()}

    # -- the end ---------------------------------------------------------------------------------
    def final_outputs(self, run) -> None:
        """Final exports, the held-out split translated into Data/, PSNR/SSIM."""
        out = self.out
        for name, current in self.export_nets(run.phases).items():
            run.exports.final(name, name, current, run.it)
        if self.cfg.generate.generate_num == 0:
            return
        translators = self.translators(run.phases)
        generated.start(out, True)
        lines, quality = [], {}
        fmt = self.cfg.generate.format
        for name, tr in translators.items():
            src_dom, dst_dom = self.meta["domains"][name]
            x, files = self.test.a, self.test.files_a
            if name == "G_BA":
                x, files = self.test.b, self.test.files_b
            if not len(x):
                continue
            y = tr(x)
            sub = f"{src_dom}to{dst_dom}" if len(translators) > 1 else ""
            lines += translate.write_translations(y, list(files), out, sub, fmt,
                                                  label=dst_dom if sub else None)
            if self.layout != "unpaired":
                quality[name] = self._quality(x, y)
        generated.write_manifest(out, lines)
        log.info("translated %d held-out images into %s (manifest: output_0.manifest)",
                 len(lines), os.path.join(out, "Data"))
        if quality:
            write_json(os.path.join(out, QUALITY_FILE), quality, indent=1)
            for name, q in quality.items():
                log.info("%s on the held-out split: %s", name, ", ".join(
                    f"{k} {v:.4g}" for k, v in _flat(q).items()))

    def _quality(self, x: np.ndarray, y: np.ndarray) -> dict:
        q = {"images": int(len(y)), **image_quality(y, self.test.b)}
        if self.layout == "sr":
            q["bicubic"] = image_quality(bicubic_upscale(x, self.scale), self.test.b)
        return q


def _flat(q: dict) -> dict:
    out = {}
    for k, v in q.items():
        if isinstance(v, dict):
            out.update({f"{k}_{kk}": vv for kk, vv in v.items()})
        elif k != "images":
            out[k] = v
    return out


def _center(x: np.ndarray, size: int) -> np.ndarray:
    """Centre crop uint8 NCHW images to ``size`` (held-out images are already that size)."""
    h, w = x.shape[2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[:, :, top:top + size, left:left + size]


def _upsize(img: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour enlargement so a low-resolution input sits in the grid at full size."""
    k = size // img.shape[-1]
    return img if k <= 1 else img.repeat(k, axis=1).repeat(k, axis=2)
