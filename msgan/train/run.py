"""The training run: kimg schedule, ticks, stats.jsonl, snapshots, resume, rollback, signals.

What the data are and what a run makes of them (class folders → new images, image pairs →
translations) is the task's business (``msgan/train/tasks``); the compiled steps are the phases'
(``msgan/train/phases``). Stats stay Tensors until a tick closes, so the device is not
synchronised every step.
"""
from __future__ import annotations

import logging
import os
import signal
import time

import numpy as np

from msgan import io, runlock, runtime, snapshots
from msgan.config import Config, dump_config
from msgan.errors import MsganError
from msgan.report import write_report
from msgan.train import checkpoint, init_from, plots, rollback
from msgan.train.exports import Exports
from msgan.train.output_dir import prepare_output_dir
from msgan.train.phases import build_phases
from msgan.train.phases.base import Progress
from msgan.train.stats_file import StatsFile
from msgan.train.tasks import make_task

log = logging.getLogger("msgan")


class Run:
    """One training run of ``task`` (see ``train(cfg)``, the entry point)."""

    def __init__(self, cfg: Config, out_dir: str, task, rank: int = 0, world_size: int = 1):
        self.cfg, self.out, self.task = cfg, out_dir, task
        self.rank, self.world_size = rank, world_size
        self.main = rank == 0          # only rank 0 writes outputs
        t = cfg.train
        self.total_nimg = int(round(t.total_kimg * 1000))
        self.tick_nimg = max(int((t.tick_kimg or max(t.total_kimg / 50, 0.001)) * 1000), 1)
        self.snap_nimg = max(int((t.snapshot_kimg or t.total_kimg / 5) * 1000), 1)
        for sub in ("checkpoints", "model", "samples") if self.main else ():
            os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
        self.stats = StatsFile(os.path.join(out_dir, "stats.jsonl"))
        self.exports = Exports(os.path.join(out_dir, "model"), t.export)
        self._row_extra = {}          # fields for the next row (a rollback)
        self._row_due = None          # the closed tick a snapshot in progress will write
        self._pending, self._tick_start = [], (0, time.time())   # the open tick's steps
        self.guard = rollback.RollbackGuard(t.rollback_after)
        self._good_snapshot = None        # the newest snapshot taken while training was healthy
        self.interrupts = None            # train() sets it: Ctrl-C/SIGTERM seen while training
        self.init_source = None           # train() sets it: train.init_from's model to load

    def setup(self) -> None:
        self.cfg = self.task.load()   # data, meta; the config with data-dependent auto values
        if self.main:
            dump_config(self.cfg, os.path.join(self.out, "config.yaml"))
        self.phases = build_phases(self.cfg, self.task.num_classes, self.rank, self.world_size)
        self.sampler = self.task.sampler(self.cfg.train.seed + 1000 * self.rank)
        self._start()
        if self.main:
            self.task.prepare_outputs(self)

    # -- counters, resume, rollback --------------------------------------------------------------
    def _start(self) -> None:
        """Counters at zero, or where train.resume left off (phases and sampler must exist)."""
        cfg = self.cfg
        self.cur_nimg, self.it, self.tick, self.elapsed = 0, 0, 0, 0.0
        self._last_snapshot_it = 0
        resume = checkpoint.resolve_resume(cfg.train.resume, self.out, owner=self.main)
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
            if self.init_source is not None:
                log.info("train.resume wins over train.init_from: the fine-tune continues from "
                         "its own snapshot (%s is not loaded again)", self.cfg.train.init_from)
        else:
            if cfg.train.resume == "auto":
                log.info("train.resume=auto: no snapshot in %s yet, starting fresh", self.out)
            if self.main:
                self.stats.clear()
            if self.init_source is not None:
                info = init_from.load(self.phases, self.init_source, self.task.classes,
                                      cfg.data.channels)
                self._row_extra["init_from"] = info       # the first stats.jsonl row
                log.info("started from %s", init_from.describe(info))

    def _restore_host(self, host: dict, path: str) -> None:
        """Continue from a loaded snapshot's host state (resume and rollback)."""
        self.cur_nimg, self.it, self.tick = host["cur_nimg"], host["it"], host["tick"]
        self.elapsed = host.get("elapsed", 0.0)
        if self.world_size == 1:
            self.sampler.load_state_dict(host["sampler"])
        else:   # only rank 0's data order is stored; the other shards restart their order
            self.sampler = self.task.sampler(self.cfg.train.seed + 1000 * self.rank + self.it)
        phases_state = dict(host["phases"])
        if "lr" in host:    # snapshots written before the phases kept their lr themselves
            phases_state.setdefault("lr", host["lr"])
        self.phases.load_host_state(phases_state)
        if self.main:
            self.stats.truncate(self.cur_nimg / 1000)
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

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
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
                log.info("interrupted; continue with: %s", resume_command(self.out))
                raise
            self.finish()
        except OSError as e:
            # A full disk or a folder that became unwritable shows up in whichever write comes
            # first (samples, stats.jsonl, an export); snapshots are atomic, so the last complete
            # one is still there to resume from.
            raise MsganError(f"cannot write to output_dir {self.out} ({e.strerror or e}) — free "
                             "disk space or fix the folder, then continue with "
                             f"{resume_command(self.out)}; the last complete snapshot was "
                             "kept") from None

    def _train(self) -> None:
        bar = None
        if self.cfg.train.progress and self.main:
            from msgan.progress import Bar       # tqdm, only when a bar is shown
            # warmup: the first step compiles; the ETA is measured from the steps after it
            bar = Bar(total=self.total_nimg / 1000, initial=self.cur_nimg / 1000, unit="kimg",
                      bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} kimg [{elapsed}<{remaining}]",
                      dynamic_ncols=True, warmup=True)
        try:
            self._train_steps(bar)
        finally:
            # before any line about why training stopped (Ctrl-C): a bar closed later, when it
            # is garbage-collected, is drawn again under that line
            if bar is not None:
                bar.close()
        if self._last_snapshot_it != self.it:
            self.snapshot()

    def _train_steps(self, bar) -> None:
        batch = self.cfg.train.batch_size
        self._pending, self._tick_start = [], (self.cur_nimg, time.time())
        next_tick = (self.cur_nimg // self.tick_nimg + 1) * self.tick_nimg
        next_snap = (self.cur_nimg // self.snap_nimg + 1) * self.snap_nimg
        while self.cur_nimg < self.total_nimg:
            if self.interrupts is not None and self.interrupts.pending:
                raise KeyboardInterrupt        # one that MindSpore swallowed (see Interrupts)
            progress = Progress(self.cur_nimg, self.total_nimg)
            self._pending.append(self.phases.step(next(self.sampler), self.it, progress))
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

    # -- ticks and stats.jsonl -------------------------------------------------------------------
    def _write_row(self, row: dict) -> None:
        if self.main:
            row, self._row_extra = {**row, **self._row_extra}, {}
            self.stats.write(row)

    def _close_tick(self) -> dict:
        """The stats row of the open tick's steps (not written yet); a new tick starts."""
        now = time.time()
        start_nimg, start_time = self._tick_start
        self.elapsed += now - start_time
        row = self._tick_row(self._pending, self.cur_nimg - start_nimg, now - start_time)
        self._pending, self._tick_start = [], (self.cur_nimg, now)
        return row

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

    # -- snapshots -------------------------------------------------------------------------------
    def snapshot(self, row: dict | None = None) -> None:
        """Samples, scores, the tick's stats row (``row``), checkpoint and exports."""
        if not self.main:
            self._other_rank_snapshot()
            return
        self._snapshot_tick(row)
        kimg = self.cur_nimg / 1000
        self.task.meta["kimg"] = kimg
        self.task.meta["snapshot"] = io.snapshot_name(self.cur_nimg)   # exports say which
        tag = f"{kimg:08.3f}"          # kimg, sortable as text: fakes0012.288.png
        self.task.save_samples(self.phases, os.path.join(self.out, "samples", f"fakes{tag}.png"))
        score = self.task.score(self.phases)
        best = self.task.best_snapshot(self.stats.rows())   # survives pruning
        self._write_snapshot_row(score)
        # so does the one that wrote Data/ at the end of an earlier run this one extends
        made_data = snapshots.recorded_run_model(os.path.join(self.out, "checkpoints"))
        path = self._save_state(
            protect=((os.path.join(self.out, "checkpoints", best),) if best else ()) +
            ((made_data[0],) if made_data else ()),
            weights=self.task.snapshot_weights(self.phases))
        self._last_snapshot_it = self.it
        if score is not None:
            log.info("%s: KID %s", os.path.basename(path),
                     "n/a" if score["kid"] is None else f"{score['kid']:.4g}")
        self.exports.snapshot(self.task.export_nets(self.phases), self.it, tag)
        log.info("snapshot at %.2f kimg: %s", kimg, os.path.relpath(path, self.out))

    def _other_rank_snapshot(self) -> None:
        """What a rank that writes nothing keeps of a snapshot: where rank 0 put it."""
        self._last_snapshot_it = self.it
        if self.guard.healthy():    # the path rank 0 writes; all ranks roll back together
            self._good_snapshot = os.path.join(self.out, "checkpoints",
                                               io.snapshot_name(self.cur_nimg))

    def _save_state(self, protect: tuple = (), weights: dict | None = None) -> str:
        """The full training state as a snapshot; returns its folder."""
        host = {"cur_nimg": self.cur_nimg, "it": self.it, "tick": self.tick,
                "elapsed": self.elapsed, "sampler": self.sampler.state_dict(),
                "phases": self.phases.host_state(), "seed": self.cfg.train.seed,
                "rollbacks": self.guard.rollbacks}
        protect += (self._good_snapshot,) if self._good_snapshot else ()   # the way back
        path = checkpoint.save_snapshot(os.path.join(self.out, "checkpoints"), self.cur_nimg,
                                        self.phases.state_cells(), host, dict(self.task.meta),
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
        name = io.snapshot_name(self.cur_nimg)
        self._write_row({**self._row_due, "snapshot": name, **(score or {})})
        self._row_due = None

    # -- the end ---------------------------------------------------------------------------------
    def weights_checksum(self) -> float:
        """Sum of every trained weight: equal on all ranks when data parallelism works."""
        return float(sum(np.float64(p.asnumpy()).sum() for c in self.phases.state_cells().values()
                         for p in c.trainable_params()))

    def finish(self) -> None:
        if self.world_size > 1:   # data parallel keeps ranks identical; print it so logs show it
            print(f"rank {self.rank}: weights checksum {self.weights_checksum():.10e}",
                  flush=True)
        if not self.main:
            return
        samples = os.path.join(self.out, "samples")
        plots.plot_losses(self.stats.path, os.path.join(samples, "losses.png"))
        plots.make_progress_gif(samples, os.path.join(samples, "progress.gif"))
        # the model this run folder stands for (msgan.snapshots.model_snapshot): the last
        # snapshot, unless the task chooses another for Data/ (noise: the best by KID)
        snapshots.record_run_model(os.path.join(self.out, "checkpoints"),
                                   io.snapshot_name(self.cur_nimg),
                                   "the last snapshot, which wrote Data/")
        self.task.final_outputs(self)
        self.report_path = write_report(self.out)   # all of the above, one page


def resume_command(out: str) -> str:
    """The command that continues the run in ``out`` as it was, pasted verbatim from any folder:
    its own config.yaml holds every key it was started with (msgan.config.continue_run)."""
    import shlex
    return (f"msgan train {shlex.quote(os.path.join(out, 'config.yaml'))} train.resume=auto "
            f"output_dir={shlex.quote(out)}")


class Interrupts:
    """Ctrl-C (SIGINT) and a scheduler's SIGTERM as KeyboardInterrupt, remembered.

    A KeyboardInterrupt raised while MindSpore's C++ code runs (graph compiling, an export's
    parity run) can be swallowed there: under load a test's Ctrl-C right after a snapshot left the
    run training on. The loop therefore also checks ``pending`` once per step. A SIGINT that the
    process was started ignoring (``cmd &`` in a script, nohup-style launchers) stays ignored, as
    Python itself leaves it: the launcher asked for Ctrl-C at the terminal not to reach this run.
    """

    def __init__(self):
        self.pending = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            if not (sig == signal.SIGINT and signal.getsignal(sig) == signal.SIG_IGN):
                self._previous[sig] = signal.signal(sig, self._raise)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _raise(self, signum, frame):
        self.pending = True
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
        out = prepare_output_dir(cfg, force)      # locks it: one run per folder
        runtime.setup_logging(out)
    else:
        out = os.path.abspath(cfg.output_dir)
        runtime.setup_logging(None, verbose=False)
    try:
        runtime.select_device(cfg.device_target)
        if world_size > 1:
            runtime.init_distributed()
            log.info("data parallel: %d workers, %d images per worker per step", world_size,
                     cfg.train.batch_size // world_size)
        runtime.set_seeds(cfg.train.seed)     # same initial weights on every rank
        cfg, source = init_from.prepare(cfg)     # the source's architecture keys
        if rank == 0:
            dump_config(cfg, os.path.join(out, "config.yaml"))
        run = Run(cfg, out, make_task(cfg, out, rank, world_size), rank, world_size)
        run.init_source = source
        run.setup()
        # A scheduler's SIGTERM (preemption, job time limit) is handled like Ctrl-C: snapshot,
        # exit.
        with Interrupts() as run.interrupts:
            run.run()
        page = getattr(run, "report_path", None)       # rank 0 writes it
        log.info("done: %s%s", out, f" — open {page} in a browser" if page else "")
        return out
    finally:
        runlock.release(out)        # taken by prepare_output_dir (rank 0)
