"""The training run: data in, snapshots, exports and generated images out.

Schedule in kimg (thousands of real images shown to D). Stats are kept as Tensors and turned
into floats once per tick, so the device is not synchronised every step.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import time

import numpy as np
import mindspore as ms
from mindspore import Tensor

from msgan import report as run_report
from msgan import runtime
from msgan.config import TRANSLATION_MODELS, Config, dump_config, to_dict
from msgan.data import builtin, folder, pipeline, validate
from msgan.errors import MsganError
from msgan.io import read_stats, update_json
from msgan.models import MODELS
from msgan.train import checkpoint, plots, rollback
from msgan.train.lr import get_lr, set_lr
from msgan.train.phases.base import ema_beta
from msgan.train.phases.classic import ClassicPhases

log = logging.getLogger("msgan")

# Everything msgan writes into an output folder; --force removes only these.
OUTPUT_ENTRIES = ("config.yaml", "validation.json", "stats.jsonl", "log.txt", "checkpoints",
                  "model", "samples", "Data", "output_0.manifest", "builtin_data",
                  "metrics_extractor.json", "quality.json", "report.html")


# ----------------------------------------------------------------------------------------------
# Output folder and logging

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
    existing = [e for e in OUTPUT_ENTRIES if os.path.exists(os.path.join(out, e))]
    reuse = False
    if existing and not cfg.train.resume and not cfg.generate.predict:
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
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".msgan-write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise MsganError(f"cannot write to output_dir {out} ({e.strerror}) — choose a folder "
                         "you can write to") from None
    if reuse:
        setup_logging(out)     # so this line lands in log.txt after the earlier start's lines
        log.info("output_dir %s held an earlier start that stopped before its first snapshot "
                 "(no snapshot, export or generated image): reusing it", out)
    return out


def run_results(out: str) -> list:
    """What makes ``out`` a run worth keeping: snapshots, exports, generated images."""
    found = []
    if checkpoint.list_snapshots(os.path.join(out, "checkpoints")):
        found.append("snapshots")
    model = os.path.join(out, "model")
    if os.path.isdir(model) and any(not n.startswith(".") for n in os.listdir(model)):
        found.append("exports")
    data = os.path.join(out, "Data")
    if any(not f.startswith(".") for _, _, files in os.walk(data) for f in files):
        found.append("generated images")
    return found


def setup_logging(out_dir: str | None, verbose: bool = True) -> None:
    # A log line that cannot be written (disk full) must not print a traceback; the write that
    # matters fails too and stops the run with one clear line.
    logging.raiseExceptions = False
    log.setLevel(logging.INFO)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    log.addHandler(console)
    if out_dir:
        fh = logging.FileHandler(os.path.join(out_dir, "log.txt"), encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)
    log.propagate = False


# ----------------------------------------------------------------------------------------------
# Data

def load_data(cfg: Config, out_dir: str, write_report: bool = True):
    d = cfg.data
    path = builtin.resolve_data_path(d.path, os.path.join(out_dir, "builtin_data"))
    image_set = folder.scan_folder(path)
    report_path = os.path.join(out_dir, "validation.json")
    if d.do_validation:
        image_set = validate.do_validation(image_set, d.resolution, d.channels, d.min_size,
                                           report_path=report_path if write_report else None,
                                           progress=cfg.train.progress and write_report,
                                           model=cfg.model.name)
        if write_report:
            with open(report_path, encoding="utf-8") as f:
                log.info(validate.validation_summary(json.load(f)))
    try:
        images, labels = pipeline.load_images(image_set, d.resolution, d.channels, d.resize,
                                              progress=cfg.train.progress and write_report)
    except MsganError:
        raise
    except Exception as e:   # only reachable with do_validation=false
        raise MsganError(f"could not decode an input image ({str(e).splitlines()[0][:120]}) — "
                         "set data.do_validation=true to find and skip broken files") from None
    return image_set, images, labels


# ----------------------------------------------------------------------------------------------
# Building

def build_meta(cfg: Config, image_set, export_batch: int) -> dict:
    m = cfg.model
    conditional = bool(image_set.classes)
    inputs = ["z"] + (["c"] if conditional else []) + (["psi"] if m.name == "stylegan2" else [])
    return {"model": m.name, "model_cfg": to_dict(m), "z_dim": m.z_dim,
            "z_dist": getattr(m, "z_dist", "gaussian"),
            "num_classes": len(image_set.classes), "classes": list(image_set.classes),
            "resolution": cfg.data.resolution, "channels": cfg.data.channels,
            "batch": export_batch, "inputs": inputs, "kimg": 0.0}


BENEFIT_SEEDS = (0, 1)      # the end-of-run benefit check: classifier seeds ...
BENEFIT_STEPS = 200         # ... and optimizer steps per classifier (1-2 minutes on 2 CPU cores)
SMALL_DATA_IMAGES = 1000     # below this many training images DCGAN's auto D is half G's width


def resolve_auto(cfg: Config, num_images: int) -> Config:
    """``cfg`` with the model's data-dependent ``auto`` (None) values filled in and logged."""
    m = cfg.model
    if m.name == "dcgan" and m.ndf is None:
        ndf = max(m.ngf // 2, 8) if num_images < SMALL_DATA_IMAGES else m.ngf
        log.info("model.ndf: auto → %d (%s %d training images)", ndf,
                 "fewer than" if num_images < SMALL_DATA_IMAGES else "at least",
                 SMALL_DATA_IMAGES)
        return dataclasses.replace(cfg, model=dataclasses.replace(m, ndf=ndf))
    return cfg


def build_phases(cfg: Config, num_classes: int, rank: int = 0, world_size: int = 1):
    module = MODELS[cfg.model.name]
    G, D = module.build(cfg.model, cfg.data.resolution, cfg.data.channels, num_classes)
    G_ema, _ = module.build(cfg.model, cfg.data.resolution, cfg.data.channels, num_classes)
    for pe, p in zip(G_ema.get_parameters(), G.get_parameters()):
        pe.set_data(p.data.copy())     # before any graph is compiled, so set_data is fine
    if cfg.model.name == "stylegan2":
        from msgan.train.phases.stylegan2 import StyleGAN2Phases
        return StyleGAN2Phases(cfg, G, D, G_ema, num_classes, rank=rank, world_size=world_size)
    return ClassicPhases(cfg, G, D, G_ema, num_classes, rank=rank, world_size=world_size)


# ----------------------------------------------------------------------------------------------

class Run:
    """One training run; ``train(cfg)`` is the entry point."""

    def __init__(self, cfg: Config, out_dir: str, rank: int = 0, world_size: int = 1):
        self.cfg, self.out = cfg, out_dir
        self.rank, self.world_size = rank, world_size
        self.main = rank == 0          # only rank 0 writes outputs
        t = cfg.train
        self.total_nimg = int(round(t.total_kimg * 1000))
        self.tick_nimg = int((t.tick_kimg or max(t.total_kimg / 50, 0.001)) * 1000)
        self.snap_nimg = int((t.snapshot_kimg or t.total_kimg / 5) * 1000)
        self.tick_nimg = max(self.tick_nimg, 1)
        self.snap_nimg = max(self.snap_nimg, 1)
        for sub in ("checkpoints", "model", "samples") if self.main else ():
            os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
        self.stats_path = os.path.join(out_dir, "stats.jsonl")
        self._last_row = None         # the last stats.jsonl row written (rank 0)
        self._row_extra = {}          # fields for the next row (a rollback)
        self._row_due = None          # the closed tick a snapshot in progress will write
        self._pending, self._tick_start = [], (0, time.time())   # the open tick's steps
        self.guard = rollback.RollbackGuard(t.rollback_after)
        self._good_snapshot = None        # the newest snapshot taken while training was healthy

    def setup(self):
        cfg = self.cfg
        self.image_set, images, labels = load_data(cfg, self.out, write_report=self.main)
        cfg = self.cfg = resolve_auto(cfg, len(images))
        if self.main:
            dump_config(cfg, os.path.join(self.out, "config.yaml"))
        self.meta = build_meta(cfg, self.image_set, export_batch=min(cfg.generate.batch_size, 32))
        self.phases = build_phases(cfg, len(self.image_set.classes), self.rank, self.world_size)
        self.sampler = self._shard_sampler(images, labels, cfg.train.seed + 1000 * self.rank)
        self.labels = labels
        self.images = images
        self._start()
        self.scorer = None
        if self.main:
            self._grid_inputs(images, labels)
            if cfg.metrics.extractor != "none" and self.world_size > 1:
                # Training the extractor takes rank 0 a minute while the other ranks wait in
                # their first all-reduce, long enough for the collective to time out.
                log.info("snapshot scoring is off in data-parallel runs; score afterwards with "
                         "msgan evaluate")
            elif cfg.metrics.extractor != "none":
                from msgan.train.scoring import SnapshotScorer
                self.scorer = SnapshotScorer(images, labels, len(self.image_set.classes),
                                             cfg.metrics, seed=cfg.train.seed, out_dir=self.out)

    def _start(self) -> None:
        """Counters at zero, or where train.resume left off (phases and sampler must exist)."""
        cfg = self.cfg
        self.cur_nimg, self.it, self.tick, self.elapsed = 0, 0, 0, 0.0
        self._last_snapshot_it = 0
        resume = checkpoint.resolve_resume(cfg.train.resume, self.out)
        if resume:
            cells = self.phases.state_cells()
            # a run resumed with train.amp switched on starts its loss scales fresh
            host = checkpoint.load_snapshot(resume, cells,
                                            optional=[k for k in cells if k.startswith("scale_")])
            if host.get("fresh_cells"):
                log.info("%s was trained without mixed precision: the loss scales (%s) start "
                         "fresh", resume, ", ".join(host["fresh_cells"]))
            self._restore_host(host, resume)
            self.guard.rollbacks = host.get("rollbacks", 0)
            log.info("resumed from %s at %.1f kimg", resume, self.cur_nimg / 1000)
        else:
            if cfg.train.resume == "auto":
                log.info("train.resume=auto: no snapshot in %s yet, starting fresh", self.out)
            if self.main and os.path.exists(self.stats_path):
                self._rewrite_stats([])   # the rows of a start that died before its snapshot

    def _restore_host(self, host: dict, path: str) -> None:
        """Continue from a loaded snapshot's host state (resume and rollback)."""
        self.cur_nimg, self.it, self.tick = host["cur_nimg"], host["it"], host["tick"]
        self.elapsed = host.get("elapsed", 0.0)
        if self.world_size == 1:
            self.sampler.load_state_dict(host["sampler"])
        else:   # only rank 0's data order is stored; the other shards restart their order
            self.sampler = self._shard_sampler(
                self.images, self.labels, self.cfg.train.seed + 1000 * self.rank + self.it)
        self.phases.load_host_state(host["phases"])
        # mint Adam keeps lr outside its checkpointed parameters: a lowered lr lives here
        for name, lr in host.get("lr", {}).items():
            set_lr(self.phases.optimizers()[name], lr)
        if self.main:
            self._truncate_stats(self.cur_nimg / 1000)
        self._last_snapshot_it = self.it
        self._good_snapshot = path

    def _roll_back(self) -> None:
        """Back to the last good snapshot with lower learning rates (train.rollback_after)."""
        t = self.cfg.train
        kimg, skipped = self.cur_nimg / 1000, self.guard.longest()
        self.guard.begin(self._good_snapshot, kimg)
        snapshot = self._good_snapshot
        _, lrs = rollback.roll_back(snapshot, self.phases.state_cells(), self.phases.optimizers(),
                                    t.rollback_lr_factor,
                                    restore=lambda host: self._restore_host(host, snapshot))
        name = os.path.basename(self._good_snapshot)
        lr_text = ", ".join(f"{k} {old:.3g} → {new:.3g}" for k, (old, new) in lrs.items())
        log.warning("training diverged at %.3f kimg (%d updates in a row had non-finite "
                    "gradients): rolled back to %s at %.3f kimg with lower learning rates (%s), "
                    "rollback %d of at most %d", kimg, skipped, name, self.cur_nimg / 1000,
                    lr_text, self.guard.rollbacks, self.guard.max_rollbacks)
        if self.main:
            rollback.drop_snapshots_after(self._good_snapshot)
        # stats.jsonl lost the diverged ticks (_restore_host); the first tick trained after the
        # rollback carries it, so kimg never repeats
        self._row_extra = {"rollback": self.guard.rollbacks, "from_kimg": round(kimg, 4),
                           "rolled_back_to": name, "diverged_updates": skipped,
                           **{f"lr_{k}": new for k, (_, new) in lrs.items()}}

    def _shard_sampler(self, images, labels, seed: int):
        """Batches of this rank's shard: batch_size / world_size images of every world_size-th."""
        step = self.world_size
        return pipeline.BatchSampler(images[self.rank::step], labels[self.rank::step],
                                     self.cfg.train.batch_size // step, seed=seed,
                                     mirror=self.cfg.data.mirror,
                                     balanced=self.cfg.data.sampling == "balanced")

    def _truncate_stats(self, kimg: float) -> None:
        """After a crash (or a rollback) stats.jsonl may hold ticks past the snapshot we continue
        from: drop them, so kimg keeps increasing."""
        self._rewrite_stats([r for r in plots.read_stats(self.stats_path)
                             if r["kimg"] <= kimg + 1e-9])

    def _rewrite_stats(self, rows: list) -> None:
        tmp = self.stats_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, self.stats_path)
        self._last_row = rows[-1] if rows else None

    def _write_row(self, row: dict) -> None:
        """One stats.jsonl row per tick, kimg strictly increasing. A row at the last row's kimg
        (a snapshot on Ctrl-C just after its tick was written) is merged into that row."""
        if not self.main:
            return
        row, self._row_extra = {**row, **self._row_extra}, {}
        last = self._last_row
        if last is not None and abs(last["kimg"] - row["kimg"]) < 1e-9:
            rows = plots.read_stats(self.stats_path)
            self._rewrite_stats(rows[:-1] + [{**rows[-1], **row}] if rows else [row])
            return
        with open(self.stats_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        self._last_row = row

    def _close_tick(self) -> dict:
        """The stats row of the open tick's steps (not written yet); a new tick starts."""
        now = time.time()
        start_nimg, start_time = self._tick_start
        self.elapsed += now - start_time
        row = self._tick_row(self._pending, self.cur_nimg - start_nimg, now - start_time)
        self._pending, self._tick_start = [], (self.cur_nimg, now)
        return row

    def _grid_inputs(self, images, labels):
        """Fixed latents (and classes) for the sample grids, so snapshots are comparable."""
        rng = np.random.default_rng(123)
        classes = self.image_set.classes
        cols = 8
        if classes:
            rows = min(len(classes), 16)
            c = np.repeat(np.arange(rows, dtype=np.int32), cols)
        else:
            rows = 8
            c = np.zeros(rows * cols, np.int32)
        self.grid_cols = cols
        z_dim = self.meta["z_dim"]
        if self.meta["z_dist"] == "uniform":
            self.grid_z = rng.uniform(-1, 1, (rows * cols, z_dim)).astype(np.float32)
        else:
            self.grid_z = rng.standard_normal((rows * cols, z_dim)).astype(np.float32)
        self.grid_c = c
        # reals grid in the same class order
        picks = []
        for k in range(rows):
            idx = np.flatnonzero(labels == k) if classes else np.arange(len(labels))
            picks += list(rng.choice(idx, cols, replace=len(idx) < cols))
        pipeline.save_grid(images[np.array(picks)], os.path.join(self.out, "samples", "reals.png"),
                           nrow=cols, row_labels=classes[:rows] or None)

    # -- main loop -------------------------------------------------------------------------------
    def run(self):
        try:
            try:
                self._train()
            except KeyboardInterrupt:
                # Ctrl-C: keep what was trained. A second Ctrl-C while writing aborts the write,
                # and the atomic snapshot then leaves the previous one in place.
                if self.it > self._last_snapshot_it:
                    log.info("interrupted at %.2f kimg: writing a snapshot before exiting",
                             self.cur_nimg / 1000)
                    self.snapshot()
                log.info("interrupted; continue with train.resume=auto output_dir=%s", self.out)
                raise
            self.finish()
        except OSError as e:
            # A full disk or a folder that became unwritable shows up in whichever write comes
            # first (samples, stats.jsonl, an export); snapshots are atomic, so the last complete
            # one is still there to resume from.
            raise MsganError(f"cannot write to output_dir {self.out} ({e.strerror or e}) — free "
                             "disk space or fix the folder, then continue with "
                             "train.resume=auto; the last complete snapshot was kept") from None

    def _train(self):
        cfg = self.cfg
        batch = cfg.train.batch_size
        bar = None
        if cfg.train.progress and self.main:
            from msgan.progress import Bar       # prints its finished line once
            bar = Bar(total=self.total_nimg / 1000, initial=self.cur_nimg / 1000, unit="kimg",
                       bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} kimg [{elapsed}<{remaining}]",
                       dynamic_ncols=True)
        self._pending, self._tick_start = [], (self.cur_nimg, time.time())
        next_tick = (self.cur_nimg // self.tick_nimg + 1) * self.tick_nimg
        next_snap = (self.cur_nimg // self.snap_nimg + 1) * self.snap_nimg
        while self.cur_nimg < self.total_nimg:
            self._pending.append(self._train_step())
            self.cur_nimg += batch
            self.it += 1
            if bar is not None:
                bar.update((min(self.cur_nimg, self.total_nimg) - bar.n * 1000) / 1000)
            done = self.cur_nimg >= self.total_nimg
            snap_due = self.cur_nimg >= next_snap or done
            if self.cur_nimg >= next_tick or snap_due:   # a snapshot always closes a tick
                diverged = self.guard.observe(rollback.flags_from_stats(self._pending))
                row = self._close_tick()
                if bar is not None:
                    bar.set_postfix(G=f"{row['loss_G']:.3f}", D=f"{row['loss_D']:.3f}",
                                    refresh=False)   # drawn with the next update
                if diverged:      # its row is not kept: the rollback drops the diverged ticks
                    self._roll_back()
                    self._tick_start = (self.cur_nimg, self._tick_start[1])
                    next_snap = (self.cur_nimg // self.snap_nimg + 1) * self.snap_nimg
                next_tick = (self.cur_nimg // self.tick_nimg + 1) * self.tick_nimg
                if diverged:
                    continue      # a snapshot due now would hold the abandoned steps
                if not snap_due:
                    self._write_row(row)
            if snap_due:
                self.snapshot(row)      # writes the tick's row with the snapshot's scores
                next_snap = (self.cur_nimg // self.snap_nimg + 1) * self.snap_nimg
                self._tick_start = (self.cur_nimg, time.time())   # not training time
        if bar is not None:
            bar.close()
        if self._last_snapshot_it != self.it:
            self.snapshot()

    def _train_step(self) -> dict:
        """One iteration of the phases (and EMA); returns its stats Tensors."""
        cfg, phases = self.cfg, self.phases
        reals, labels = next(self.sampler)
        phases.progress = self.cur_nimg / self.total_nimg
        stats = phases.step(Tensor(reals), Tensor(labels), self.it)
        beta = ema_beta(cfg.train.batch_size, self.cur_nimg, cfg.train.ema_kimg,
                        cfg.train.ema_rampup)
        phases.update_ema(Tensor(beta, ms.float32))
        return stats

    def _tick_row(self, pending: list, nimg: int, seconds: float) -> dict:
        self.tick += 1
        row = {"tick": self.tick, "kimg": round(self.cur_nimg / 1000, 4)}
        if not self.main:
            return {"loss_G": float("nan"), "loss_D": float("nan")}
        keys = list(dict.fromkeys(k for s in pending for k in s))   # some only every n steps
        for key in keys:
            vals = [s[key].asnumpy() for s in pending if key in s]
            if key.startswith("update_ok_"):   # count the skipped (non-finite) updates
                row["skipped_" + key[len("update_ok_"):]] = int(sum(not bool(v) for v in vals))
            elif key.startswith("loss_scale_"):  # mixed precision: the scale the tick ended with
                row[key] = float(vals[-1])
            else:
                row[key] = float(np.mean([float(v) for v in vals]))
        row["sec_per_kimg"] = round(seconds / max(nimg / 1000, 1e-9), 3)
        row["sec_per_tick"] = round(seconds, 3)
        row["total_sec"] = round(self.elapsed, 1)
        skipped = sum(v for k, v in row.items() if k.startswith("skipped_"))
        if skipped and self.cfg.train.amp != "O0" and self.tick <= 3:
            # the dynamic loss scale starts high and halves on each overflow: expected early on
            log.info("%d updates skipped while the mixed-precision loss scale settles", skipped)
        elif skipped:
            log.warning("%d updates skipped for non-finite gradients before %.2f kimg; if this "
                        "repeats, lower the learning rates or resume from an earlier snapshot",
                        skipped, row["kimg"])
        log.debug("tick %s", row)
        return row

    # -- snapshots and the end -------------------------------------------------------------------
    def _other_rank_snapshot(self) -> None:
        """What a rank that writes nothing keeps of a snapshot: where rank 0 put it."""
        self._last_snapshot_it = self.it
        if self.guard.healthy():    # the path rank 0 writes; all ranks roll back together
            self._good_snapshot = os.path.join(self.out, "checkpoints",
                                               checkpoint.snapshot_name(self.cur_nimg))

    def _save_state(self, protect: tuple = (), weights: dict | None = None) -> str:
        """The full training state as a snapshot; returns its folder."""
        host = {"cur_nimg": self.cur_nimg, "it": self.it, "tick": self.tick,
                "elapsed": self.elapsed, "sampler": self.sampler.state_dict(),
                "phases": self.phases.host_state(), "seed": self.cfg.train.seed,
                "rollbacks": self.guard.rollbacks,
                "lr": {k: get_lr(o) for k, o in self.phases.optimizers().items()}}
        protect += (self._good_snapshot,) if self._good_snapshot else ()   # the way back
        path = checkpoint.save_snapshot(os.path.join(self.out, "checkpoints"), self.cur_nimg,
                                        self.phases.state_cells(), host, dict(self.meta),
                                        keep=3, protect=protect, weights=weights)
        if self.guard.healthy():
            self._good_snapshot = path
        return path

    def _snapshot_tick(self, row: dict | None) -> None:
        """Hold the stats row a snapshot completes until the snapshot writes it: the tick it
        closes, or (Ctrl-C, the end) the steps since the last tick, or the row of a snapshot
        that Ctrl-C interrupted; with none of these, the row already written at this kimg."""
        if row is None:
            row = self._row_due or (self._close_tick() if self._pending else
                                    {"tick": self.tick, "kimg": round(self.cur_nimg / 1000, 4)})
        self._row_due = row

    def _write_snapshot_row(self, score: dict | None = None) -> None:
        """The tick's one stats.jsonl row, with the snapshot's name and scores. Written before
        the snapshot: a run killed while saving it resumes from the one before, which drops
        the row; the other order could leave a snapshot whose tick has no row."""
        name = checkpoint.snapshot_name(self.cur_nimg)
        self._write_row({**self._row_due, "snapshot": name, **(score or {})})
        self._row_due = None

    def snapshot(self, row: dict | None = None):
        """Samples, scores, checkpoint, stats row (``row``: the tick it closes) and exports."""
        if not self.main:
            self._other_rank_snapshot()
            return
        self._snapshot_tick(row)
        kimg = self.cur_nimg / 1000
        self.meta["kimg"] = kimg
        tag = f"{kimg:08.3f}"          # kimg, sortable as text: fakes0012.288.png
        psi = float(self.cfg.generate.truncation)
        images = self._grid_sampler()(self.grid_z, self.grid_c, psi)
        rows = len(images) // self.grid_cols        # one class per row, as in reals.png
        pipeline.save_grid(images, os.path.join(self.out, "samples", f"fakes{tag}.png"),
                           nrow=self.grid_cols, row_labels=self.image_set.classes[:rows] or None)
        score = self._score()
        best = self._best_snapshot()        # the best earlier snapshot survives pruning
        self._write_snapshot_row(score)
        path = self._save_state(protect=(os.path.join(self.out, "checkpoints", best),)
                                if best else ())
        self._last_snapshot_it = self.it
        if score is not None:
            log.info("%s: KID %s", os.path.basename(path),
                     "n/a" if score["kid"] is None else f"{score['kid']:.4g}")
        self._export_current("G_ema", os.path.join(self.out, "model", f"G_ema-{tag}"))
        self._exported = (self.it, tag)
        log.info("snapshot at %.2f kimg: %s", kimg, os.path.relpath(path, self.out))

    def _score(self):
        if self.scorer is None:
            return None
        t0 = time.time()
        score = self.scorer.score(self._grid_sampler(), seed=self.cfg.train.seed,
                                  psi=float(self.cfg.generate.truncation))
        score["score_sec"] = round(time.time() - t0, 2)
        return score

    def _best_snapshot(self):
        from msgan.train.scoring import best_snapshot
        return best_snapshot(plots.read_stats(self.stats_path)) if self.scorer else None

    def _grid_sampler(self):
        """G_ema as exported, compiled once; it sees G_ema's in-place EMA updates."""
        if not hasattr(self, "_grid_cell_sampler"):
            from msgan.inference.generate import CellSampler
            net = MODELS[self.cfg.model.name].export_net(self.phases.G_ema)
            self._grid_cell_sampler = CellSampler(net, self.meta)
        return self._grid_cell_sampler

    def _export(self, stem: str, net=None, meta=None) -> dict:
        if not self.cfg.train.export:
            return {}
        from msgan.inference.export import export_generator
        if net is None:
            net = MODELS[self.cfg.model.name].export_net(self.phases.G_ema)
        result = export_generator(net, dict(meta or self.meta), stem,
                                  formats=tuple(self.cfg.train.export))
        for fmt, r in result.items():
            if not r.get("ok"):
                log.warning("export %s of %s did not reproduce the checkpoint (%s)", fmt,
                            os.path.basename(stem),
                            r.get("error") or f"max abs diff {r.get('max_abs_diff')}")
        return result

    def _final_export(self, name: str, stem: str, net=None, meta=None) -> None:
        """model/<stem>.*: a copy of the last snapshot's export of ``name`` when that holds
        these very weights (``net`` None: the current ones), else a new export."""
        model = os.path.join(self.out, "model")
        done_it, tag = getattr(self, "_exported", (None, None))
        if net is None and done_it == self.it:
            copy_export(os.path.join(model, f"{name}-{tag}"), os.path.join(model, stem))
        elif net is None:
            self._export_current(name, os.path.join(model, stem))
        else:
            self._export(os.path.join(model, stem), net, meta)

    def _export_current(self, name: str, stem: str) -> dict:
        """Export network ``name`` with its current weights (here there is only G_ema)."""
        return self._export(stem)

    def weights_checksum(self) -> float:
        """Sum of every trained weight: equal on all ranks when data parallelism works."""
        return float(sum(np.float64(p.asnumpy()).sum() for c in self.phases.state_cells().values()
                         for p in c.trainable_params()))

    def finish(self):
        if self.world_size > 1:   # data parallel keeps ranks identical; print it so logs show it
            print(f"rank {self.rank}: weights checksum {self.weights_checksum():.10e}",
                  flush=True)
        if not self.main:
            return
        plots.plot_losses(self.stats_path, os.path.join(self.out, "samples", "losses.png"))
        plots.make_progress_gif(os.path.join(self.out, "samples"),
                                os.path.join(self.out, "samples", "progress.gif"))
        self._final_outputs()
        self.report_path = run_report.write_report(self.out)   # all of the above, one page

    def _final_outputs(self):
        """Final exports and the generated images with their manifest."""
        out, g = self.out, self.cfg.generate
        sampler, export_net, meta = self._grid_sampler(), None, self.meta
        best = self._best_snapshot()
        if best:
            best_net, best_meta = None, self.meta       # the newest snapshot is G_ema as it is
            newest = checkpoint.list_snapshots(os.path.join(out, "checkpoints"))[-1]
            if os.path.join(out, "checkpoints", best) != newest:
                from msgan.inference.generate import load_checkpoint_generator
                G, best_meta = load_checkpoint_generator(os.path.join(out, "checkpoints", best))
                best_net = MODELS[best_meta["model"]].export_net(G)
            self._final_export("G_ema", "best", best_net, best_meta)
            if g.use_snapshot == "best" and best_net is not None:
                from msgan.inference.generate import CellSampler
                sampler, export_net, meta = CellSampler(best_net, best_meta), best_net, best_meta
                log.info("final exports and images use %s, the snapshot with the lowest KID "
                         "(generate.use_snapshot=last uses the newest)", best)
        self._final_export("G_ema", "G_ema", export_net, meta)
        counts = None
        if self.image_set.classes:
            from msgan.inference.balance import balance_counts, count_labels
            real_counts = count_labels(self.labels, self.image_set.classes)
            counts = balance_counts(real_counts, g.generate_num, g.balance, g.target_per_class)
            counts = self._skip_unlearnable(real_counts, counts)
        if g.generate_num > 0 or g.balance:
            from msgan.inference.generate import generate
            paths = generate(sampler, out, g.generate_num, seed=g.seed, counts=counts,
                             truncation=g.truncation, fmt=g.format, progress=self.cfg.train.progress)
            log.info("generated %d images in %s (manifest: output_0.manifest)", len(paths),
                     os.path.join(out, "Data"))
            if self.cfg.metrics.benefit_check and len(self.image_set.classes) >= 2 and paths:
                self._check_benefit(paths)
            self._warn_if_not_learnt(best if g.use_snapshot == "best" else None)

    def _warn_if_not_learnt(self, used) -> None:
        """Scored runs: images from a snapshot whose KID is no lower than the first snapshot's
        are what a barely trained G makes; say so next to Data/ instead of ending quietly."""
        scored = [r for r in read_stats(self.stats_path) if r.get("kid") is not None]
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
        from msgan.metrics.augmentation_benefit import benefit, verdict_line
        from msgan.metrics.extractor import CLASSIFIER_MAX_RES, shrink
        classes = list(self.image_set.classes)
        d = self.cfg.data
        index = {c: k for k, c in enumerate(classes)}
        gen = np.stack([pipeline.load_image(p, d.resolution, d.channels, "stretch")
                        for p in paths])
        gen_labels = np.array([index[os.path.basename(os.path.dirname(p))] for p in paths],
                              np.int32)
        t0 = time.time()
        log.info("checking whether the generated images help a classifier of your classes "
                 "(metrics.benefit_check; 1-2 minutes on a CPU)")
        try:
            report = benefit(shrink(self.images, CLASSIFIER_MAX_RES), self.labels,
                             shrink(gen, CLASSIFIER_MAX_RES), gen_labels, classes,
                             seeds=BENEFIT_SEEDS, max_steps=BENEFIT_STEPS,
                             progress=self.cfg.train.progress)
        except MsganError as e:    # the run's outputs are written: a check must not fail it
            log.warning("benefit check skipped: %s", e)
            return
        report["seconds"] = round(time.time() - t0, 1)
        line = verdict_line(report)
        if report["verdict"] == "generated images hurt":
            log.warning("WARNING: %s. The images in %s make a classifier of your classes WORSE "
                        "— do not add them to your training set as they are; train longer, "
                        "add real images, or keep model.augment on (see README, 'Small data')",
                        line, os.path.join(self.out, "Data"))
        else:
            log.info("%s", line)
        update_json(os.path.join(self.out, "quality.json"), "augmentation_benefit", report)


def copy_export(src_stem: str, dst_stem: str) -> None:
    """Copy an export's files (.json last, so a sidecar never describes a missing model)."""
    for ext in (".mindir", ".onnx", ".json"):
        if os.path.exists(dst_stem + ext):
            os.remove(dst_stem + ext)
        if os.path.exists(src_stem + ext):
            shutil.copyfile(src_stem + ext, dst_stem + ext + ".tmp")
            os.replace(dst_stem + ext + ".tmp", dst_stem + ext)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def train(cfg: Config, force: bool = False) -> str:
    if runtime.is_msrun_scheduler():
        runtime.run_msrun_scheduler()
        return os.path.abspath(cfg.output_dir)
    rank, world_size = runtime.init_distributed_env()
    if world_size > 1 and cfg.train.batch_size % world_size:
        raise MsganError(f"train.batch_size {cfg.train.batch_size} is not divisible by the "
                         f"{world_size} workers — use a multiple of {world_size}")
    if rank == 0:
        out = prepare_output_dir(cfg, force)
        setup_logging(out)
    else:
        out = os.path.abspath(cfg.output_dir)
        setup_logging(None, verbose=False)
    runtime.select_device(cfg.device_target)
    if world_size > 1:
        runtime.init_distributed()
        log.info("data parallel: %d workers, %d images per worker per step", world_size,
                 cfg.train.batch_size // world_size)
    runtime.set_seeds(cfg.train.seed)     # same initial weights on every rank
    if rank == 0:
        dump_config(cfg, os.path.join(out, "config.yaml"))
    if cfg.model.name in TRANSLATION_MODELS:
        from msgan.train.translate_loop import TranslationRun
        run = TranslationRun(cfg, out, rank, world_size)
    else:
        run = Run(cfg, out, rank, world_size)
    run.setup()
    # A scheduler's SIGTERM (preemption, job time limit) is handled like Ctrl-C: snapshot, exit.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        run.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    page = getattr(run, "report_path", None)       # rank 0 writes it
    log.info("done: %s%s", out, f" — open {page} in a browser" if page else "")
    return out


def predict(cfg: Config) -> str:
    """The ModelArts operator's predict mode: no training, only generation from a model.

    Image-to-image models translate the images of ``data.path`` instead.
    """
    from msgan.inference.generate import generate, load_sampler
    out = os.path.abspath(cfg.output_dir)
    os.makedirs(out, exist_ok=True)
    setup_logging(out)
    runtime.select_device(cfg.device_target)
    dump_config(cfg, os.path.join(out, "config.yaml"))
    g = cfg.generate
    if cfg.model.name in TRANSLATION_MODELS:
        from msgan.inference.translate import load_translator, translate_folder
        paths, _ = translate_folder(load_translator(g.resume), cfg.data.path, out, fmt=g.format,
                                    progress=cfg.train.progress)
        log.info("translated %d images into %s", len(paths), os.path.join(out, "Data"))
        return out
    sampler = load_sampler(g.resume)
    paths = generate(sampler, out, g.generate_num, seed=g.seed, truncation=g.truncation,
                     fmt=g.format, progress=cfg.train.progress)
    log.info("generated %d images in %s", len(paths), os.path.join(out, "Data"))
    return out
