"""Probe: which oneDNN implementation MindSpore's CPU Conv2D runs, and at what speed.

    python -m benchmarks.probe_cpu_conv --channels 64 512 --size 8 --isa default,AVX2

Runs forward + backward (input and weight) of a 3x3 conv, batch 8, under ms.jit, in a child
process per setting of ONEDNN_MAX_CPU_ISA ("default": unset), with oneDNN's verbose log on; prints
the implementation of each pass and the GFLOP/s of the whole step (second call).
On MindSpore 2.10.0 on this AMD EPYC (AVX-512), 2026-11-28, 2 threads: unset, forward and
backward-data ran "jit_uni_ncsp:conv+ref:any" (oneDNN's reference kernel) at 0.5-0.6 GFLOP/s
(64 and 512 channels); with ONEDNN_MAX_CPU_ISA=AVX2 all three passes ran "x64:gemm:jit" at
6.9 and 31.5 GFLOP/s (12x and 63x). msgan therefore sets the cap for its process on x86
(msgan/ops/onednn.py). Delete both when "default" shows a jit implementation.

It also prints whether Conv2D takes channels-last (NHWC) tensors on the CPU, the layout oneDNN's
direct (non-im2col) kernels prefer: MindSpore 2.10 refuses it ("the 'NHWC' format is only
supported in GPU target", 2026-12-05), so msgan's CPU convs stay NCHW (RESULTS.md, issue 13).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import sys, time, numpy as np
import mindspore as ms
from mindspore import ops, Tensor
ms.set_context(mode=ms.GRAPH_MODE)
ms.set_device("CPU")
c, r, b = int(sys.argv[1]), int(sys.argv[2]), 8
rng = np.random.default_rng(0)
x = Tensor(rng.standard_normal((b, c, r, r)).astype(np.float32))
w = Tensor(rng.standard_normal((c, c, 3, 3)).astype(np.float32))
def f(x, w):
    return ops.conv2d(x, w, pad_mode="pad", padding=1).sum()
g = ms.jit(ms.value_and_grad(f, grad_position=(0, 1)))
for i in range(2):
    t = time.perf_counter()
    out = g(x, w)
    out[0].asnumpy()
    [o.asnumpy() for o in out[1]]
    s = time.perf_counter() - t
try:
    ops.Conv2D(c, 3, data_format="NHWC")
    print("NHWC accepted", flush=True)
except ValueError as e:
    print("NHWC refused:", str(e).splitlines()[0], flush=True)
print(f"RESULT {s:.4f} {3 * 2 * b * c * c * 9 * r * r / s / 1e9:.2f}", flush=True)
'''


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, nargs="+", default=[64, 512])
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--isa", default="default,AVX2",
                    help="ONEDNN_MAX_CPU_ISA values to compare; default = unset")
    a = ap.parse_args(argv)
    for isa in a.isa.split(","):
        env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
        env.update(ONEDNN_VERBOSE="1", DNNL_VERBOSE="1", GLOG_v="3")
        if isa != "default":
            env["ONEDNN_MAX_CPU_ISA"] = isa
        print(f"ONEDNN_MAX_CPU_ISA={isa}:", flush=True)
        _probe(a, env)


def _probe(a, env):
    # MindSpore's graph parser needs the source in a file (not `python -c`)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as src:
        src.write(CHILD)
    for c in a.channels:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, src.name, str(c), str(a.size)], env=env,
                             capture_output=True, text=True).stdout
        impls = {}
        for line in out.splitlines():
            f = line.split(",")
            if len(f) > 7 and f[2] == "primitive" and f[3] == "exec" and f[5] == "convolution":
                impls[f[7]] = f[6]
        nhwc = re.search(r"^NHWC .*$", out, re.M)
        res = re.search(r"RESULT (\S+) (\S+)", out)
        step = f"{float(res.group(1)) * 1e3:.0f} ms, {res.group(2)} GFLOP/s" if res else "failed"
        print(f"conv3x3 {c}->{c} on 8x{c}x{a.size}x{a.size}, fwd+bwd: {step}; oneDNN: "
              + ", ".join(f"{k}={v}" for k, v in impls.items())
              + f" ({time.perf_counter() - t:.0f} s with start-up)", flush=True)
        if nhwc:
            print(f"  channels-last Conv2D on the CPU: {nhwc.group(0)}", flush=True)
    os.unlink(src.name)


if __name__ == "__main__":
    main()
