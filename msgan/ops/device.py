"""What the compiled steps need to know about the device, decided here and nowhere else."""
from __future__ import annotations

import mindspore as ms


def is_cpu() -> bool:
    return ms.get_context("device_target") == "CPU"


def wait_between_graphs() -> bool:
    """Should the host wait for one compiled graph to finish before launching the next?

    On CPU, yes: launched back to back (with PyNative ops queued between them) consecutive
    graphs compete for the same thread pools, and a StyleGAN2 iteration ran 2.5-8x slower than
    with each phase waited on (benchmarks/RESULTS.md, bench_stylegan2 --modes loop,nowait). On
    Ascend/GPU the launch queue overlaps host and device work, so the host does not wait.
    """
    return is_cpu()
