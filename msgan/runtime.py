"""Device selection, graph mode, seeds, msrun and logging: the process-wide set-up of a command."""
from __future__ import annotations

import logging
import os
import random

import numpy as np

from msgan.errors import MsganError
from msgan.ops import onednn

log = logging.getLogger("msgan")

_ORDER = ("Ascend", "GPU", "CPU")


def _usable(target: str) -> tuple[bool, str]:
    import mindspore as ms
    try:
        ok = ms.hal.is_available(target)
    except Exception as e:  # a backend plugin that fails to load means "not usable"
        return False, f"{target} backend failed to load ({str(e).splitlines()[0][:120]})"
    return bool(ok), f"{target} {'available' if ok else 'not available in this MindSpore build or machine'}"


def select_device(device_target: str = "auto") -> str:
    """Pick Ascend, then GPU, then CPU for ``auto``; check an explicit choice. Logs why."""
    import mindspore as ms
    if device_target == "auto":
        reasons = []
        for target in _ORDER:
            ok, why = _usable(target)
            reasons.append(why)
            if ok:
                break
        log.info("device: %s (auto: %s)", target, "; ".join(reasons))
    else:
        target = device_target
        ok, why = _usable(target)
        if not ok:
            raise MsganError(f"device_target {target} was asked for but {why} — use "
                             "device_target=auto or install the MindSpore build for that device")
        # set in the YAML or on the command line (the run_*.sh scripts): say which key, not where
        log.info("device: %s (device_target=%s)", target, device_target)
    if target == "CPU":
        isa = onednn.cap_cpu_isa()
        if isa:
            log.info("oneDNN CPU kernels: %s=%s (msgan/ops/onednn.py says why)", onednn.ENV, isa)
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        ms.set_device(target)
    except RuntimeError as e:
        # A process that already ran kernels (a notebook, a test session calling train() twice)
        # cannot set the device again; it keeps the one it runs on.
        if "has been initialized" not in str(e):
            raise
        log.info("device: keeping the device this process already runs on")
    return target


def setup_logging(out_dir: str | None, verbose: bool = True) -> None:
    """msgan's log: plain lines on the console, timestamped ones in ``out_dir``/log.txt."""
    # A log line that cannot be written (disk full) must not print a traceback; the write that
    # matters fails too and stops the run with one clear line.
    logging.raiseExceptions = False
    log.setLevel(logging.INFO)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    console = _ConsoleHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    log.addHandler(console)
    if out_dir:
        fh = logging.FileHandler(os.path.join(out_dir, "log.txt"), encoding="utf-8")
        fh.setFormatter(_FileFormatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)
    log.propagate = False


class _ConsoleHandler(logging.StreamHandler):
    """stderr, around the progress bars: a line logged while a bar is drawn ("snapshot at ...")
    goes above it (tqdm.write clears and redraws the bar) instead of onto the bar's line."""

    def emit(self, record):
        try:
            from tqdm import tqdm
            if not getattr(tqdm, "_instances", None):   # no bar open: a plain line
                super().emit(record)
                return
            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:
            self.handleError(record)


class _FileFormatter(logging.Formatter):
    """log.txt's lines: time, level, message; a message that names its level itself (the
    console shows only messages, so warnings say "WARNING: ...") keeps one of the two."""

    def formatMessage(self, record):
        line = super().formatMessage(record)
        level = record.levelname
        return line.replace(f" {level} {level}:", f" {level}:", 1)


def set_seeds(seed: int) -> None:
    import mindspore as ms
    ms.set_seed(seed)
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)


def quiet_mindspore() -> None:
    """MindSpore prints WARNING lines for things users cannot act on; keep errors only."""
    os.environ.setdefault("GLOG_v", "3")


def is_msrun_scheduler() -> bool:
    """msrun also runs the training script in its scheduler process (MS_ROLE=MS_SCHED)."""
    return os.environ.get("MS_ROLE") == "MS_SCHED"


def run_msrun_scheduler() -> None:
    """The scheduler only hosts the cluster: ``init()`` serves it until the workers are done."""
    from mindspore.communication import init
    init()


def init_distributed_env() -> tuple:
    """(rank, world size) from msrun's environment; (0, 1) when not started by msrun."""
    if os.environ.get("MS_ROLE") != "MS_WORKER":
        return 0, 1
    return int(os.environ.get("RANK_ID", "0")), int(os.environ.get("MS_WORKER_NUM", "1"))


def init_distributed() -> None:
    """Join the msrun job (after the device is set) with data-parallel gradient averaging."""
    import mindspore as ms
    from mindspore.communication import init
    init()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL,
                                 gradients_mean=True)
