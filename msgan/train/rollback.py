"""Divergence rollback: reload the last good snapshot with lower learning rates.

Non-finite gradients already skip their update (``guarded_update``). When updates are skipped
many times in a row the run is stuck (weights or Adam moments in a region where every gradient
overflows), so the loop goes back to the last snapshot taken while training was healthy and
continues with the learning rates multiplied by ``train.rollback_lr_factor``.

The guard reads the ``update_ok_*`` flags once per tick, when the loop turns stats into numbers
anyway, so detection adds no per-step device sync.
"""
from __future__ import annotations

import os
import shutil

from msgan import io
from msgan.errors import MsganError
from msgan.train import checkpoint
from msgan.train.lr import get_lr, set_lr

MAX_ROLLBACKS = 3     # more than this in one run: lowering the lr is not fixing it


def flags_from_stats(steps: list) -> dict:
    """``{"D": [ok, ...], "G": [...]}`` in step order from the per-step stats of a tick."""
    flags = {}
    for stats in steps:
        for key, value in stats.items():
            if key.startswith("update_ok_"):
                flags.setdefault(key[len("update_ok_"):], []).append(bool(value.asnumpy()))
    return flags


class RollbackGuard:
    """Counts skipped updates in a row per optimizer; ``after`` = 0 never asks for a rollback."""

    def __init__(self, after: int, max_rollbacks: int = MAX_ROLLBACKS):
        self.after, self.max_rollbacks = after, max_rollbacks
        self.streaks: dict = {}
        self.rollbacks = 0

    def observe(self, flags: dict) -> bool:
        """Feed one tick's flags (True = update applied); True when a rollback is due."""
        for key, oks in flags.items():
            streak = self.streaks.get(key, 0)
            for ok in oks:
                streak = 0 if ok else streak + 1
            self.streaks[key] = streak
        return self.after > 0 and self.longest() >= self.after

    def longest(self) -> int:
        return max(self.streaks.values(), default=0)

    def healthy(self) -> bool:
        """The last update of every optimizer was applied: a snapshot now is a good one."""
        return self.longest() == 0

    def begin(self, snapshot: str | None, kimg: float) -> None:
        """Count a rollback to ``snapshot``, or stop the run when there is no way back."""
        skipped = self.longest()
        if snapshot is None:
            raise MsganError(f"training diverged at {kimg:.3f} kimg ({skipped} updates in a row "
                             "had non-finite gradients) before the first good snapshot — lower "
                             "train.G_opt.lr and train.D_opt.lr, or set a smaller "
                             "train.snapshot_kimg so there is a snapshot to roll back to")
        if self.rollbacks >= self.max_rollbacks:
            raise MsganError(f"training diverged again at {kimg:.3f} kimg after "
                             f"{self.rollbacks} rollbacks with lower learning rates — check the "
                             "data, lower train.G_opt.lr and train.D_opt.lr, or resume from an "
                             "earlier snapshot")
        self.rollbacks += 1
        self.streaks = {}


def roll_back(snapshot: str, cells: dict, optimizers: dict, lr_factor: float,
              restore=None) -> tuple:
    """Load ``snapshot`` into ``cells`` in place, ``restore(host)``, then lower each lr.

    The new lr is ``lr_factor`` times the lr in use now (not the snapshot's), so a second
    rollback to the same snapshot lowers it further; it is set after ``restore`` because host
    state may carry the snapshot's lr. Returns (host state, {name: (old lr, new lr)}).
    """
    current = {name: get_lr(opt) for name, opt in optimizers.items()}
    host = checkpoint.load_snapshot(snapshot, cells)   # copy_: compiled steps see the values
    if restore is not None:
        restore(host)
    lrs = {}
    for name, opt in optimizers.items():
        set_lr(opt, current[name] * lr_factor)
        lrs[name] = (current[name], get_lr(opt))
    return host, lrs


def drop_snapshots_after(snapshot: str) -> None:
    """Delete the snapshots newer than ``snapshot``: resume=auto must not pick a diverged one."""
    root, name = os.path.split(snapshot)
    for path in io.list_snapshots(root):
        if os.path.basename(path) > name:       # snapshot-<nimg:09d> sorts by nimg
            shutil.rmtree(path, ignore_errors=True)
