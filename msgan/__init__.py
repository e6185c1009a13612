"""msgan: train GANs on a folder of images with MindSpore and write new images per class."""

# The one thing msgan does at import time, and why: MindSpore 2.10's oneDNN runs CPU convolutions
# with its reference kernel on AVX-512 CPUs unless ONEDNN_MAX_CPU_ISA is set before its first
# primitive (12-63x slower; msgan/ops/onednn.py). The CLI could set it later, in
# runtime.select_device, but a user who imports msgan's models and trains them from Python, or a
# benchmark, never calls that, and an in-process variable is only read once. So the cap is set
# here: one environment variable (setdefault semantics: a value the user set wins), no MindSpore
# import, no other side effect. Every entry point (CLI, ``import msgan``, benchmarks) thus runs
# the same kernels.
from msgan.ops import onednn as _onednn

_onednn.cap_cpu_isa()

__version__ = "0.1.0"
