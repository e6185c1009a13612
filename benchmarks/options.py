"""Command-line options and CPU pinning shared by the benchmarks."""
import os

import mindspore as ms


def add_thread_args(ap) -> None:
    ap.add_argument("--threads", type=int, default=len(_allowed_cpus()),
                    help="CPU cores for every framework; the process is pinned to that many cores")


def _allowed_cpus():
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        list(range(os.cpu_count() or 1))


def use_threads(n: int, ms_threads: int = 0) -> None:
    """Run on ``n`` cores: pin the process and set MindSpore's kernel thread count.

    Pinning is what makes a thread count mean the same for both frameworks: MindSpore 2.10's
    CPU MatMul runs on every core the process may use whatever ``threads_num`` says (a 2048²
    matmul with ``threads_num(1)`` kept 2 cores busy here, and ran at half speed once pinned to
    one), so unpinned "1 thread" runs gave msgan two cores against PyTorch's one.
    ``ms_threads`` sets MindSpore's intra-op threads apart from the cores (0: the same).
    """
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, _allowed_cpus()[:n])
    ms.device_context.cpu.op_tuning.threads_num(ms_threads or n)


def add_model_args(ap) -> None:
    """The DCGAN size options every DCGAN benchmark takes."""
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=64, help="ngf = ndf")
    ap.add_argument("--channels", type=int, default=3)
