"""Probe: host memory that MindSpore's CPU kernels keep per compiled graph, by op.

    python -m benchmarks.probe_cpu_memory            # every case
    python -m benchmarks.probe_cpu_memory --cases bmul expand_mul

Each case compiles three graphs (the same four-op chain with a different constant, first-order
gradients, as a training phase would), runs each twice and prints how much the resident set grew
per extra graph, in units of one activation (batch 8, 64 channels, 64², 8.4 MB): memory a graph
keeps after it ran, which every further compiled graph (each training phase) adds again.
Each case runs in its own process.

On MindSpore 2.10.0 (CPU, 2026-12-04), per op per graph: broadcasting element-wise ops
(``x * s.reshape(B, C, 1, 1)``, a bias add, instance norm's ``x - mean``, ``where`` with a
per-sample condition) kept ~4 activations (8 with their gradient), ``ops.leaky_relu`` (Maximum)
~4, a 3x3 conv with its gradient ~3 of its im2col (oneDNN's scratchpad per image);
``broadcast_to`` + a same-shape op,
a Select-based leaky ReLU, depthwise and 1-channel-output convs, pads, reductions and concat kept
nothing. msgan therefore broadcasts explicitly and writes leaky ReLU as a Select in StyleGAN2
and InstanceNorm2d (``msgan/ops/lowering.py``: ``expand``, ``lrelu``). Delete both when the
first cases here show no growth.
"""
import argparse
import os
import subprocess
import sys

CASES = {
    "bmul": "x * s.reshape(B, C, 1, 1)",
    "expand_mul": "x * ops.broadcast_to(s.reshape(B, C, 1, 1), x.shape)",
    "bias_add": "x + s[0].reshape(1, C, 1, 1)",
    "mean_sub": "x - x.mean(axis=(2, 3), keep_dims=True)",
    "expand_mean_sub": "x - ops.broadcast_to(x.mean(axis=(2, 3), keep_dims=True), x.shape)",
    "leaky_relu": "ops.leaky_relu(x, a)",
    "select_lrelu": "ops.select(x > 0, x, x * a)",
    "same_shape_mul": "x * x",
    "conv3x3": "ops.conv2d(x, w, pad_mode='pad', padding=1)",
}

CHILD = r'''
import os, sys
import numpy as np
import mindspore as ms
from mindspore import ops, Tensor
ms.set_context(mode=ms.GRAPH_MODE)
ms.set_device("CPU")
B, C, R = 8, 64, 64
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1e3
rng = np.random.default_rng(0)
x = Tensor(rng.standard_normal((B, C, R, R)).astype(np.float32))
s = Tensor(rng.standard_normal((B, C)).astype(np.float32))
w = Tensor(rng.standard_normal((C, C, 3, 3)).astype(np.float32) * 0.05)
def make(a):
    def f(x, s, w):
        for _ in range(4):
            x = (EXPR) * a
        return (x * x).sum()
    return ms.jit(ms.grad(f, grad_position=(0, 1, 2)))
sizes = []
start = rss_mb()
for a in (0.2, 0.1, 0.3):
    g = make(a)
    for _ in range(2):
        g(x, s, w)[0].asnumpy()
    sizes.append(rss_mb() - start)
per_graph = (sizes[2] - sizes[0]) / 2
print(f"RESULT {per_graph:.0f} {per_graph / 4 / (x.nbytes / 1e6):.1f}", flush=True)
'''


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    a = ap.parse_args(argv)
    env = dict(os.environ)
    env.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")         # as msgan runs (msgan/ops/onednn.py)
    print(f"{'case':16s} {'expression':56s} MB/graph  activations/op")
    for name in a.cases:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f".probe_{name}.py")
        with open(path, "w") as f:       # the graph parser needs real source, not `python -c`
            f.write(CHILD.replace("EXPR", CASES[name]))
        try:
            out = subprocess.run([sys.executable, path], env=env, capture_output=True, text=True)
        finally:
            os.unlink(path)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
        if not line:
            print(f"{name:16s} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        mb, acts = line[0].split()[1:]
        print(f"{name:16s} {CASES[name]:56s} {mb:>8s}  {acts:>6s}", flush=True)


if __name__ == "__main__":
    main()
