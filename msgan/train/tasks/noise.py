"""The noise-to-image task (gan, dcgan, stylegan2): a class folder (or a single folder) in, new
images per class out, with the guards on what a user is handed (too few images to learn a class,
the benefit check, a generator no better than at its first snapshot)."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections import Counter

import numpy as np

from msgan.config import Config, export_batch, to_dict
from msgan.data import builtin, folder, pipeline, store, validate
from msgan.errors import MsganError
from msgan.inference import empty_classes
from msgan.inference.balance import count_labels, generation_counts
from msgan.inference.generate import generate
from msgan.inference.latents import sample_z
from msgan.inference.samplers import CellSampler, load_generators
from msgan.io import list_snapshots, snapshot_name, update_json
from msgan.snapshots import record_run_model
from msgan.models import MODELS
from msgan.metrics.evaluate import best_snapshot
from msgan.train.scoring import SnapshotScorer

log = logging.getLogger("msgan")

BENEFIT_SEEDS = (0, 1)      # the end-of-run benefit check: classifier seeds ...
BENEFIT_STEPS = 300         # ... and optimizer steps per classifier (~2 minutes on 2 CPU cores)
GEN_CHUNK = 512             # generated images read back at a time for the benefit check
GRID_COLS = 8


def load_data(cfg: Config, out_dir: str, write_report: bool = True):
    """(image_set, uint8 images (N, C, R, R), int32 labels) of ``data.path``, validated."""
    d = cfg.data
    path = builtin.resolve_data_path(d.path, os.path.join(out_dir, "builtin_data"))
    image_set = folder.scan_folder(path)
    report_path = os.path.join(out_dir, "validation.json")
    if d.do_validation:
        name = cfg.model.name
        image_set = validate.do_validation(image_set, d.resolution, d.channels, d.min_size,
                                           report_path=report_path if write_report else None,
                                           progress=cfg.train.progress and write_report,
                                           model=name, ranges={name: MODELS[name].resolution})
        if write_report:
            with open(report_path, encoding="utf-8") as f:
                log.info(validate.validation_summary(json.load(f)))
    try:
        # Above data.preload_limit_gib the rows are decoded once into OUT/cache and mapped.
        loaded = store.load_training_images(
            image_set, d.resolution, d.channels, d.resize,
            preload_limit=d.preload_limit_gib * store.GIB, cache_dir=os.path.join(out_dir, "cache"),
            progress=cfg.train.progress and write_report, skip_changed=d.do_validation)
    except MsganError:
        raise
    except Exception as e:   # only reachable with do_validation=false
        raise MsganError(f"could not decode an input image ({str(e).splitlines()[0][:120]}) — "
                         "set data.do_validation=true to find and skip broken files") from None
    if loaded.changed:      # files that vanished, shrank or broke since validation: left out
        left_out = Counter(c["reason"] for c in loaded.changed)
        if write_report:
            report = validate.record_changes(report_path, loaded.image_set, loaded.changed)
            log.warning("%s", validate.changed_line(loaded.changed))
            left_out.update(p["problem"] for p in report["problems"])
        validate.check_enough(loaded.image_set, left_out, report_path if write_report else None)
    return loaded.image_set, loaded.images, loaded.labels


def build_meta(cfg: Config, classes, export_batch: int) -> dict:
    """What an export's or a snapshot's JSON says about the generator (msgan generate reads it)."""
    m = cfg.model
    inputs = ["z"] + (["c"] if classes else []) + (["psi"] if MODELS[m.name].truncation else [])
    return {"model": m.name, "model_cfg": to_dict(m), "z_dim": m.z_dim,
            "z_dist": getattr(m, "z_dist", "gaussian"),
            "num_classes": len(classes), "classes": list(classes),
            "resolution": cfg.data.resolution, "channels": cfg.data.channels,
            "batch": export_batch, "inputs": inputs, "kimg": 0.0}


class NoiseTask:
    def __init__(self, cfg: Config, out_dir: str, rank: int = 0, world_size: int = 1):
        self.cfg, self.out = cfg, out_dir
        self.rank, self.world_size, self.main = rank, world_size, rank == 0
        self.scorer = None
        self._grid_sampler = None

    # -- data ------------------------------------------------------------------------------------
    def load(self) -> Config:
        """Read and validate the data; returns the config with its data-dependent auto values."""
        self.image_set, self.images, self.labels = load_data(self.cfg, self.out,
                                                             write_report=self.main)
        model_cfg, note = self.cfg.model.with_data(len(self.images))
        if note:
            log.info("%s", note)
        self.cfg = cfg = dataclasses.replace(self.cfg, model=model_cfg)
        self.classes = self.image_set.classes
        self.num_classes = len(self.classes)
        self.heldout = self._load_heldout() if self.main else None
        # Sample, score and export graphs take generate.batch_size images per call; its auto
        # value (what config.yaml records) is at most a training step's (config.export_batch).
        self.meta = build_meta(cfg, self.classes, export_batch=export_batch(cfg))
        return cfg

    def _load_heldout(self):
        """metrics.benefit_heldout's reals, read and checked before training, not after it."""
        m, d = self.cfg.metrics, self.cfg.data
        if not m.benefit_heldout:
            return None
        if not (m.benefit_check and self.num_classes >= 2):
            log.warning("metrics.benefit_heldout is ignored: the benefit check runs only with "
                        "metrics.benefit_check=true and 2+ class folders in data.path")
            return None
        from msgan.metrics.augmentation_benefit import load_heldout
        held = load_heldout(m.benefit_heldout, self.classes, self.images, d.resolution,
                            d.channels, resize=d.resize)
        log.info("the benefit check will judge on %d reals in %s that the GAN does not train "
                 "on", len(held.images), held.root)
        return held

    def sampler(self, seed: int):
        """Batches of this rank's shard: batch_size / world_size images of every world_size-th."""
        step, cfg = self.world_size, self.cfg
        return pipeline.BatchSampler(self.images[self.rank::step], self.labels[self.rank::step],
                                     cfg.train.batch_size // step, seed=seed,
                                     mirror=cfg.data.mirror,
                                     balanced=cfg.data.sampling == "balanced")

    def prepare_outputs(self, run) -> None:
        """Rank 0, once the phases exist: the fixed grid latents, reals.png, the scorer."""
        rng = np.random.default_rng(123)
        cols = GRID_COLS
        rows = min(len(self.classes), 16) if self.classes else 8
        self.grid_c = (np.repeat(np.arange(rows, dtype=np.int32), cols) if self.classes
                       else np.zeros(rows * cols, np.int32))
        self.grid_z = sample_z(rng, rows * cols, self.meta["z_dim"], self.meta["z_dist"])
        picks = []      # reals in the same class order
        for k in range(rows):
            idx = np.flatnonzero(self.labels == k) if self.classes else np.arange(len(self.labels))
            picks += list(rng.choice(idx, cols, replace=len(idx) < cols))
        pipeline.save_grid(self.images[np.array(picks)],
                           os.path.join(self.out, "samples", "reals.png"), nrow=cols,
                           row_labels=self.classes[:rows] or None)
        metrics = self.cfg.metrics
        if metrics.extractor != "none" and self.world_size > 1:
            # Training the extractor takes rank 0 a minute while the other ranks wait in
            # their first all-reduce, long enough for the collective to time out.
            log.info("snapshot scoring is off in data-parallel runs; score afterwards with "
                     "msgan evaluate")
        elif metrics.extractor != "none":
            self.scorer = SnapshotScorer(self.images, self.labels, self.num_classes, metrics,
                                         seed=self.cfg.train.seed, out_dir=self.out)

    # -- snapshots -------------------------------------------------------------------------------
    def sampler_of(self, phases):
        """G_ema as exported, compiled once; it sees G_ema's in-place EMA updates."""
        if self._grid_sampler is None:
            G_ema = phases.generators()["G_ema"]
            self._grid_sampler = CellSampler(MODELS[self.cfg.model.name].export_net(G_ema),
                                             self.meta)
        return self._grid_sampler

    def save_samples(self, phases, path: str) -> None:
        images = self.sampler_of(phases)(self.grid_z, self.grid_c,
                                         float(self.cfg.generate.truncation))
        rows = len(images) // GRID_COLS        # one class per row, as in reals.png
        pipeline.save_grid(images, path, nrow=GRID_COLS,
                           row_labels=self.classes[:rows] or None)

    def score(self, phases):
        if self.scorer is None:
            return None
        t0 = time.time()
        score = self.scorer.score(self.sampler_of(phases), seed=self.cfg.train.seed,
                                  psi=float(self.cfg.generate.truncation))
        score["score_sec"] = round(time.time() - t0, 2)
        return score

    def best_snapshot(self, rows: list):
        return best_snapshot(rows) if self.scorer else None

    def snapshot_weights(self, phases):
        return None          # G_ema is among the phases' state cells

    def export_nets(self, phases) -> dict:
        export_net = MODELS[self.cfg.model.name].export_net
        return {name: (export_net(G), self.meta) for name, G in phases.generators().items()}

    # -- the end ---------------------------------------------------------------------------------
    def final_outputs(self, run) -> None:
        """Final exports and the generated images with their manifest."""
        out, g = self.out, self.cfg.generate
        sampler, chosen = self.sampler_of(run.phases), None    # chosen: an older best snapshot
        current = self.export_nets(run.phases)["G_ema"]
        best = self.best_snapshot(run.stats.rows())
        if best:
            path = os.path.join(out, "checkpoints", best)
            if path == list_snapshots(os.path.join(out, "checkpoints"))[-1]:
                run.exports.final("G_ema", "best", current, run.it)     # G_ema as it is now
            else:
                _, G, best_meta = load_generators(path)[0]
                best_net = MODELS[best_meta["model"]].export_net(G)
                run.exports.export(os.path.join(out, "model", "best"), best_net, best_meta)
                if g.use_snapshot == "best":
                    sampler, chosen = CellSampler(best_net, best_meta), (best_net, best_meta)
                    log.info("final exports and images use %s, the snapshot with the lowest KID "
                             "(generate.use_snapshot=last uses the newest)", best)
        self._record_model(run, best, chosen is not None)
        if chosen:
            run.exports.export(os.path.join(out, "model", "G_ema"), *chosen)
        else:
            run.exports.final("G_ema", "G_ema", current, run.it)
        counts = None
        if self.classes:
            real_counts = count_labels(self.labels, self.classes)
            counts, why = generation_counts(real_counts, g)
            if g.balance is not False:
                log.info("%s", why)
            counts = self._skip_unlearnable(real_counts, counts)
        wanted = sum(counts.values()) if counts is not None else g.generate_num
        if wanted > 0:
            keep = (self._class_filter() if g.filter == "classifier" and self.num_classes >= 2
                    else None)
            tally = {}
            paths = generate(sampler, out, g.generate_num, seed=g.seed, counts=counts,
                             truncation=g.truncation, fmt=g.format,
                             progress=self.cfg.train.progress,
                             accept=keep.accept if keep else None, tries=g.filter_tries,
                             keep_class=keep.keep_class if keep else None,
                             tally=tally)
            log.info("generated %d image%s in %s (manifest: output_0.manifest)", len(paths),
                     "" if len(paths) == 1 else "s", os.path.join(out, "Data"))
            if keep:
                keep.report(tally, out, g.filter_tries)
            if self.classes:     # a class with no image says why (log, quality.json, report)
                empty_classes.record(out, empty_classes.reasons(
                    self.classes, counts, tally, real_counts, g.min_class_images))
            if self.cfg.metrics.benefit_check and self.num_classes >= 2 and paths:
                self._check_benefit(paths)
            self._warn_if_not_learnt(run.stats.rows(), best if g.use_snapshot == "best" else None)

    def _record_model(self, run, best, older_best: bool) -> None:
        """Which snapshot makes Data/ and model/G_ema.*, in checkpoints/run_model.json: what
        ``msgan generate --model RUN`` (and every command given this run folder) uses."""
        newest = snapshot_name(run.cur_nimg)
        kid = next((r.get("kid") for r in reversed(run.stats.rows())
                    if best and r.get("snapshot") == best), None)
        by_kid = f"the best by KID ({kid:.4g})" if kid is not None else "the best by KID"
        if older_best:
            name, why = best, f"{by_kid}, which wrote Data/"
        elif best == newest:
            name, why = newest, f"the last snapshot and {by_kid}, which wrote Data/"
        else:
            name, why = newest, "the last snapshot, which wrote Data/; " + (
                "generate.use_snapshot=last" if best else "no snapshot was scored")
        record_run_model(os.path.join(self.out, "checkpoints"), name, why)

    def _class_filter(self):
        """generate.filter's judge: a classifier of this run's reals trained for it."""
        from msgan.metrics.class_filter import trained_filter
        return trained_filter(self.images, self.labels, self.classes, self.cfg.train.seed,
                              self.cfg.data.mirror, min_diversity=self.cfg.generate.min_diversity,
                              min_confidence=self.cfg.generate.filter_confidence,
                              progress=self.cfg.train.progress)

    def _warn_if_not_learnt(self, rows: list, used) -> None:
        """Scored runs: images from a snapshot whose KID is no lower than the first snapshot's
        are what a barely trained G makes; say so next to Data/ instead of ending quietly."""
        scored = [r for r in rows if r.get("kid") is not None]
        if len(scored) < 2:
            return
        kid = next((r["kid"] for r in scored if r.get("snapshot") == used), scored[-1]["kid"])
        if kid >= scored[0]["kid"]:
            log.warning("WARNING: the images in %s come from a generator no better than at the "
                        "first snapshot (KID %.4g vs %.4g at %.2f kimg): they may still be noise "
                        "— look at samples/, train longer (train.total_kimg) or add images",
                        os.path.join(self.out, "Data"), kid, scored[0]["kid"],
                        scored[0]["kimg"])

    def _skip_unlearnable(self, real_counts: dict, counts: dict) -> dict:
        """No images for classes with fewer than generate.min_class_images reals: a GAN cannot
        learn a class from a handful of images, and what it makes of them hurts a classifier.
        Said in the log and in validation.json (``too_few_to_learn``), with the numbers."""
        minimum = self.cfg.generate.min_class_images
        few = {c: n for c, n in real_counts.items() if n < minimum}
        if not few:
            return counts
        log.warning("no images generated for %s: fewer than generate.min_class_images=%d real "
                    "images to learn from — add images to these classes, or set "
                    "generate.min_class_images=0 to generate them anyway",
                    ", ".join(f"{c} ({n} images)" for c, n in few.items()), minimum)
        path = os.path.join(self.out, "validation.json")
        if os.path.exists(path):     # absent with data.do_validation=false
            update_json(path, "too_few_to_learn", {"min_class_images": minimum, "classes": few})
        return {c: (0 if c in few else n) for c, n in counts.items()}

    def _check_benefit(self, paths: list) -> None:
        """The guard on the product: does Data/ help a classifier of the user's classes?

        A bounded version of ``msgan evaluate --augmentation-benefit`` (2 seeds, at most
        BENEFIT_STEPS classifier steps, images averaged down to 32 px). Its verdict goes to the
        log — loudly when the images hurt — and to quality.json.
        """
        from msgan.metrics.augmentation_benefit import benefit, verdict_line, warning_for
        from msgan.metrics.extractor import CLASSIFIER_MAX_RES, shrink
        classes = list(self.classes)
        d = self.cfg.data
        index = {c: k for k, c in enumerate(classes)}
        # 32 px copies made a chunk at a time: 10,000 images per class at full size may not
        # fit in memory
        gen = np.concatenate([shrink(np.stack([pipeline.load_image(p, d.resolution, d.channels,
                                                                   "stretch")
                                               for p in paths[i:i + GEN_CHUNK]]),
                                     CLASSIFIER_MAX_RES)
                              for i in range(0, len(paths), GEN_CHUNK)])
        gen_labels = np.array([index[os.path.basename(os.path.dirname(p))] for p in paths],
                              np.int32)
        t0 = time.time()
        log.info("checking whether the generated images help a classifier of your classes "
                 "(metrics.benefit_check; an imbalanced folder is also judged against repeating "
                 "its small classes' reals, the verdict it leads with; the bar shows the ETA)")
        try:
            held = self.heldout
            report = benefit(shrink(self.images, CLASSIFIER_MAX_RES), self.labels,
                             gen, gen_labels, classes,
                             seeds=BENEFIT_SEEDS, max_steps=BENEFIT_STEPS,
                             mirror=self.cfg.data.mirror, progress=self.cfg.train.progress,
                             heldout=None if held is None else
                             (shrink(held.images, CLASSIFIER_MAX_RES), held.labels))
        except MsganError as e:    # the run's outputs are written: a check must not fail it
            log.warning("benefit check skipped: %s", e)
            return
        report["seconds"] = round(time.time() - t0, 1)
        warning = warning_for(report, os.path.join(self.out, "Data"))
        if warning:
            log.warning("%s", warning)
        else:
            log.info("%s", verdict_line(report))
        update_json(os.path.join(self.out, "quality.json"), "augmentation_benefit", report)
