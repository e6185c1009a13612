"""The image-to-image run (pix2pix, CycleGAN, DiscoGAN, SRGAN).

It is ``loop.Run`` with other data and outputs: the kimg schedule, ticks, stats.jsonl, atomic
snapshots, resume, Ctrl-C and data parallelism are shared. What differs: batches are image pairs
(``data.pairs``), there is no EMA, samples are input | output | target rows, every generator is
exported, and the end translates the held-out split into ``Data/`` and scores PSNR/SSIM where the
targets exist.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os

import numpy as np
from mindspore import Tensor

from msgan.config import Config, to_dict
from msgan.data import builtin, pairs
from msgan.models import MODELS
from msgan.train.loop import Run

log = logging.getLogger("msgan")

QUALITY_FILE = "quality.json"     # PSNR/SSIM of the held-out split, written at the end


def build_phases(cfg: Config, rank: int = 0, world_size: int = 1):
    """The model's networks and its phases object (the contract in ARCHITECTURE.md)."""
    m = cfg.model
    nets = MODELS[m.name].build(m, cfg.data.resolution, cfg.data.channels)
    if m.name == "pix2pix":
        from msgan.train.phases.translate import Pix2PixPhases as Phases
    elif m.name == "cyclegan":
        from msgan.train.phases.translate import CycleGANPhases as Phases
    elif m.name == "discogan":
        from msgan.train.phases.translate import DiscoGANPhases as Phases
    else:
        from msgan.train.phases.srgan import SRGANPhases as Phases
    return Phases(cfg, nets, rank=rank, world_size=world_size)


def _domains(cfg: Config) -> dict:
    """generator → [input domain, output domain] as the user names them."""
    name = cfg.model.name
    if name == "srgan":
        return {"G": ["LR", "HR"]}
    if name == "pix2pix":
        src, dst = ("A", "B") if cfg.data.direction == "AtoB" else ("B", "A")
        return {"G": [src, dst]}
    return {"G_AB": ["A", "B"], "G_BA": ["B", "A"]}


class TranslationRun(Run):
    def setup(self):
        cfg = self.cfg
        d, m = cfg.data, cfg.model
        self.scale = getattr(m, "scale", 1)
        report = os.path.join(self.out, "validation.json") if self.main else None
        path = builtin.resolve_data_path(d.path, os.path.join(self.out, "builtin_data"))
        ps = pairs.open_pairs(dataclasses.replace(d, path=path), m.name, scale=self.scale,
                              report_path=report)
        if self.main:
            log.info(pairs.pairs_summary(ps))
        self.layout = ps.layout
        train = pairs.load_split(ps, "train", d.load_size or d.resolution, d.channels,
                                 d.direction, d.resize, self.scale)
        self.test = pairs.load_split(ps, "test", d.resolution, d.channels, d.direction,
                                     d.resize, self.scale)
        res_in = d.resolution // self.scale
        self.meta = {"task": "translate", "model": m.name, "model_cfg": to_dict(m),
                     "layout": ps.layout, "generators": list(MODELS[m.name].GENERATORS),
                     "domains": _domains(cfg), "direction": d.direction, "scale": self.scale,
                     "resolution": d.resolution, "channels": d.channels,
                     "input_shape": [d.channels, res_in, res_in], "inputs": ["x"],
                     "batch": min(cfg.generate.batch_size, 4), "kimg": 0.0}
        self.phases = build_phases(cfg, self.rank, self.world_size)
        # Run shards and resumes "images" and "labels"; here they are the two sides
        self.images, self.labels = train.a, train.b
        self.sampler = self._shard_sampler(train.a, train.b, cfg.train.seed + 1000 * self.rank)
        self.scorer = None
        self._start()
        if self.main:
            self._grid_inputs(train)

    def _shard_sampler(self, a, b, seed: int):
        step, d = self.world_size, self.cfg.data
        return pairs.PairSampler(a[self.rank::step], b[self.rank::step],
                                 self.cfg.train.batch_size // step, seed=seed,
                                 resolution=d.resolution, paired=self.layout != "unpaired",
                                 mirror=d.mirror, scale=self.scale)

    def _grid_inputs(self, train):
        """Up to 8 fixed held-out pairs (train pairs if there is no held-out split)."""
        src = self.test if len(self.test.a) else train
        d = self.cfg.data
        n = min(8, len(src.a))
        self.grid_a = _center(src.a[:n], d.resolution // self.scale)
        n_b = min(8, len(src.b))
        self.grid_b = _center(src.b[:n_b], d.resolution)

    def _train_step(self) -> dict:
        a, b = next(self.sampler)
        self.phases.progress = self.cur_nimg / self.total_nimg
        self.phases.cur_kimg = self.cur_nimg / 1000
        return self.phases.step(Tensor(a), Tensor(b), self.it)

    # -- snapshots ---------------------------------------------------------------------------------
    def _translators(self) -> dict:
        """name → Translator over the phases' eval generators, compiled once, refreshed per call."""
        from msgan.inference.generate import CellSampler
        from msgan.inference.translate import Translator, generator_meta

        gens = self.phases.generators()          # refreshes the eval copies' weights
        if not hasattr(self, "_translator_cache"):
            module = MODELS[self.cfg.model.name]
            self._translator_cache = {
                name: Translator(CellSampler(module.export_net(g), generator_meta(self.meta, name)))
                for name, g in gens.items()}
        return self._translator_cache

    def snapshot(self, row: dict | None = None):
        if not self.main:
            self._other_rank_snapshot()
            return
        self._snapshot_tick(row)
        kimg = self.cur_nimg / 1000
        self.meta["kimg"] = kimg
        tag = f"{kimg:08.3f}"
        translators = self._translators()
        self._save_samples(translators, os.path.join(self.out, "samples", f"fakes{tag}.png"))
        self._write_snapshot_row()
        path = self._save_state(weights=self.phases.generators())
        self._last_snapshot_it = self.it
        for name in translators:
            self._export_current(name, os.path.join(self.out, "model", f"{name}-{tag}"))
        self._exported = (self.it, tag)
        log.info("snapshot at %.2f kimg: %s", kimg, os.path.relpath(path, self.out))

    def _save_samples(self, translators: dict, path: str) -> None:
        """Rows of input | output | target (target: the paired truth, or the other domain's
        real image for unpaired data, where there is no truth)."""
        rows = []
        for name, tr in translators.items():
            x = self.grid_a if name != "G_BA" else _center(self.grid_b, tr.input_shape[1])
            y = tr(x)
            target = self.grid_b if name != "G_BA" else self.grid_a
            res = self.cfg.data.resolution
            for i in range(len(x)):
                rows += [_upsize(x[i], res), y[i], _upsize(target[i % len(target)], res)]
        from msgan.data.pipeline import save_grid
        save_grid(np.stack(rows), path, nrow=3)

    def _export_current(self, name: str, stem: str) -> dict:
        from msgan.inference.translate import generator_meta
        net = MODELS[self.cfg.model.name].export_net(self.phases.generators()[name])
        return self._export(stem, net, generator_meta(self.meta, name))

    # -- the end -----------------------------------------------------------------------------------
    def _final_outputs(self):
        """Final exports, the held-out split translated into Data/, PSNR/SSIM."""
        from msgan.inference import translate
        out = self.out
        translators = self._translators()
        for name in translators:
            self._final_export(name, name)
        if self.cfg.generate.generate_num == 0:
            return
        translate.start_data_dir(out)
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
        translate.write_manifest(out, lines)
        log.info("translated %d held-out images into %s (manifest: output_0.manifest)",
                 len(lines), os.path.join(out, "Data"))
        if quality:
            with open(os.path.join(out, QUALITY_FILE), "w", encoding="utf-8") as f:
                json.dump(quality, f, indent=1)
            for name, q in quality.items():
                log.info("%s on the held-out split: %s", name, ", ".join(
                    f"{k} {v:.4g}" for k, v in _flat(q).items()))

    def _quality(self, x: np.ndarray, y: np.ndarray) -> dict:
        from msgan.metrics.image_quality import bicubic_upscale, image_quality
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
