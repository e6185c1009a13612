"""MindSpore 2.10's CPU convolutions: cap oneDNN at AVX2 on x86.

On an x86 CPU with AVX-512, oneDNN inside MindSpore 2.10 runs a convolution's forward and input
gradient with "jit_uni_ncsp:conv+ref:any", its reference kernel (0.3-0.8 GFLOP/s). Capped at
AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``) it picks its GEMM convolution, "x64:gemm:jit": 7-31 GFLOP/s,
a 3x3 forward+backward 12-63x faster at 64-512 channels (``python -m benchmarks.probe_cpu_conv
--isa default,AVX2`` prints both, benchmarks/RESULTS.md). oneDNN reads the variable when it
runs its first primitive, so setting it for this process before the first CPU kernel is enough:
``import msgan`` does (msgan/__init__.py), so the CLI, library use and every benchmark that
imports msgan run the same kernels. A process that imports msgan shares the cap with any other
oneDNN user in it (PyTorch reads the same variable).
Delete this module when the probe shows a jit implementation without the cap.
"""
from __future__ import annotations

import os
import platform

ENV = "ONEDNN_MAX_CPU_ISA"
CAP = "AVX2"


def cap_cpu_isa() -> str | None:
    """Set ``ONEDNN_MAX_CPU_ISA=AVX2`` for this process on x86, unless the user set it.

    Returns the value in force (None: not x86, left alone). Call it before the first CPU kernel.
    """
    if ENV in os.environ:
        return os.environ[ENV]
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    os.environ[ENV] = CAP
    return CAP
