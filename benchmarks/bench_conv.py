"""Per-layer timing: MindSpore's built-in conv Cells vs msgan.ops.fastconv, DCGAN layer shapes.

    python -m benchmarks.bench_conv --resolution 32 --batch 64 --width 64 --channels 3 --repeats 5

Prints, per layer, milliseconds for forward and forward+backward (grads for input and weight) of
both implementations, measured alternately in the same process, and built-in / fast (>1 means the
fast Cell is faster). Medians of ``--repeats`` calls after one warm-up (compile) call.
"""
import argparse
import math
import os
import statistics
import time

import numpy as np
import mindspore as ms
from mindspore import Tensor, nn

from msgan.ops import fastconv


def dcgan_layers(resolution, width, channels, z_dim=100):
    """(name, kind, cin, cout, k, stride, padding, input HW) of msgan's DCGAN at ``resolution``."""
    n = int(math.log2(resolution)) - 2
    w = lambda level: width * min(8, 2 ** level)
    layers = [("G0 z->4", "T", z_dim, w(n - 1), 4, 1, 0, 1)]
    hw, cin = 4, w(n - 1)
    for level in range(n - 2, -1, -1):
        layers.append((f"G up {hw}->{hw * 2}", "T", cin, w(level), 4, 2, 1, hw))
        hw, cin = hw * 2, w(level)
    layers.append((f"G out {hw}->{hw * 2}", "T", cin, channels, 4, 2, 1, hw))
    hw, cin = resolution, channels
    for level in range(n):
        layers.append((f"D {hw}->{hw // 2}", "C", cin, w(level), 4, 2, 1, hw))
        hw, cin = hw // 2, w(level)
    return layers


def make_pair(kind, cin, cout, k, s, p):
    if kind == "T":
        ref = nn.Conv2dTranspose(cin, cout, k, s, pad_mode="pad" if p else "valid", padding=p,
                                 has_bias=False)
        fast = fastconv.ConvTranspose2d(cin, cout, k, s, p, has_bias=False)
    else:
        ref = nn.Conv2d(cin, cout, k, s, pad_mode="pad", padding=p, has_bias=False)
        fast = fastconv.Conv2d(cin, cout, k, s, p, has_bias=False)
    return ref, fast


def compiled(net, backward):
    def forward(x):
        return net(x)

    def loss(x):
        return net(x).sum()

    if not backward:
        return ms.jit(forward)
    return ms.jit(ms.value_and_grad(loss, 0, net.trainable_params()))


def time_calls(fns, x, repeats):
    """Median seconds per call for each fn, alternating between them so load hits both alike."""
    for f in fns:
        _sync(f(x))
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            t = time.perf_counter()
            _sync(f(x))
            times[i].append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def _sync(out):
    while isinstance(out, (tuple, list)):
        out = out[0]
    out.asnumpy()


def torch_ms(kind, cin, cout, k, s, p, x, a):
    """Median ms of forward+backward (input and weight grads) of the same layer in PyTorch."""
    import torch
    torch.set_num_threads(a.threads)
    cls = torch.nn.ConvTranspose2d if kind == "T" else torch.nn.Conv2d
    layer = cls(cin, cout, k, s, p, bias=False)
    xt = torch.from_numpy(x).requires_grad_(True)
    times = []
    for i in range(a.repeats + 1):
        t = time.perf_counter()
        layer(xt).sum().backward()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:]) * 1e3


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(ap)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--forward-only", action="store_true")
    add_thread_args(ap)
    ap.add_argument("--torch", action="store_true",
                    help="add PyTorch's f+b time per layer (benchmark-only extra)")
    a = ap.parse_args(argv)
    ms.set_context(mode=ms.GRAPH_MODE)
    use_threads(a.threads)
    print(f"resolution={a.resolution} batch={a.batch} width={a.width} channels={a.channels} "
          f"threads={a.threads} repeats={a.repeats} (median ms; ratio = built-in / fast)")
    print(f"{'layer':18s} {'shape':28s} {'fwd builtin':>11s} {'fwd fast':>9s} {'ratio':>6s} "
          f"{'f+b builtin':>11s} {'f+b fast':>9s} {'ratio':>6s}" + (" f+b torch" if a.torch else ""))
    totals = np.zeros(4)
    for name, kind, cin, cout, k, s, p, hw in dcgan_layers(a.resolution, a.width, a.channels):
        ref, fast = make_pair(kind, cin, cout, k, s, p)
        x = Tensor(np.random.randn(a.batch, cin, hw, hw).astype(np.float32))
        row = time_calls([compiled(ref, False), compiled(fast, False)], x, a.repeats)
        if not a.forward_only:
            row += time_calls([compiled(ref, True), compiled(fast, True)], x, a.repeats)
        else:
            row += [float("nan")] * 2
        totals += row
        shape = f"{kind} {cin}->{cout} k{k}s{s}p{p} @{hw}"
        ms_ = [t * 1e3 for t in row]
        extra = f" {torch_ms(kind, cin, cout, k, s, p, x.asnumpy(), a):9.1f}" if a.torch else ""
        print(f"{name:18s} {shape:28s} {ms_[0]:11.1f} {ms_[1]:9.1f} {row[0] / row[1]:6.1f} "
              f"{ms_[2]:11.1f} {ms_[3]:9.1f} {row[2] / row[3]:6.1f}{extra}", flush=True)
    t = totals * 1e3
    print(f"{'total':18s} {'':28s} {t[0]:11.1f} {t[1]:9.1f} {totals[0] / totals[1]:6.1f} "
          f"{t[2]:11.1f} {t[3]:9.1f} {totals[2] / totals[3]:6.1f}")


if __name__ == "__main__":
    main()
