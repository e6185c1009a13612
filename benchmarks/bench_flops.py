"""Achieved GFLOP/s of one DCGAN train step (msgan and PyTorch) against this CPU's matmul GFLOP/s.

    python -m benchmarks.bench_flops --resolution 32 --width 64 --threads 1
    python -m benchmarks.bench_flops --resolution 32 --width 64 --threads 1 --layers

FLOPs counted (multiply-add = 2 FLOPs) are those of the convolutions, transposed convolutions and
the dense layer that one iteration needs, the same for both frameworks:
  D step: G forward (no grad); D forward + weight grads + input grads on reals and on fakes
          (no input grad for D's first layer: the images need none);
  G step: G forward + weight grads + input grads (none for G's first layer: z needs none);
          D forward + input grads (D is not updated in the G step, so no D weight grads).
Forward, input-grad and weight-grad GEMMs of a layer have the same count. BatchNorm, activations,
losses and Adam are left out (a few % of the FLOPs, memory-bound). A transposed conv counts
``2·N·Cin·H·W·Cout·k²`` (every input pixel times every tap, no inserted zeros): the GEMM of a
col2im lowering.

The step times come from bench_dcgan's runners (same nets, same alternating rounds; msgan
without its EMA update, which has no conv FLOPs). The reference peak is a large square float32
matmul measured in the same run with the same thread count: numpy (its BLAS), MindSpore MatMul
under jit, and torch.mm. ``--layers`` adds, per layer, the im2col GEMM of its FLOPs timed alone in
MindSpore vs MindSpore's conv Cell (forward + both grads) vs PyTorch's layer: the share of a
layer's time that is GEMM shows how far the conv kernel is from the machine's matmul speed.
"""
import argparse
import math
import statistics
import time

import numpy as np
import mindspore as ms
from mindspore import Tensor, nn, ops

from benchmarks.bench_dcgan import MsganRunner, TorchRunner, time_rounds
from benchmarks.options import add_model_args, add_thread_args, use_threads
from msgan.config import load_config


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


def make_layer(kind, cin, cout, k, s, p):
    """The layer as msgan's DCGAN builds it: MindSpore's conv Cell."""
    if kind == "T":
        return nn.Conv2dTranspose(cin, cout, k, s, pad_mode="pad" if p else "valid", padding=p,
                                  has_bias=False)
    return nn.Conv2d(cin, cout, k, s, pad_mode="pad", padding=p, has_bias=False)


def compiled(net):
    """net's forward + input and weight grads, under jit."""
    def loss(x):
        return net(x).sum()

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


def gemm_shape(kind, cin, cout, k, s, p, hw, batch):
    """(M, K, N) of the forward GEMM of this layer as im2col / col2im, and its output size."""
    if kind == "T":
        out = (hw - 1) * s - 2 * p + k
        return (batch, cin, cout * k * k) if hw == 1 else (cout * k * k, cin, batch * hw * hw), out
    out = (hw + 2 * p - k) // s + 1
    return (cout, cin * k * k, batch * out * out), out


def layer_flops(layers, batch):
    """Forward FLOPs per layer name (one pass over ``batch`` images)."""
    return {name: 2 * np.prod(gemm_shape(kind, cin, cout, k, s, p, hw, batch)[0])
            for name, kind, cin, cout, k, s, p, hw in layers}


def step_flops(layers, batch, dense_in):
    """Conv + dense FLOPs of one DCGAN iteration (D step + G step), see the module docstring."""
    fwd = layer_flops(layers, batch)
    g_names = [n for n, kind, *_ in layers if n.startswith("G")]
    d_names = [n for n, kind, *_ in layers if n.startswith("D")]
    dense = 2 * batch * dense_in
    g_fwd = sum(fwd[n] for n in g_names)
    g_train = 3 * g_fwd - fwd[g_names[0]]                   # no input grad for z
    d_train = 3 * sum(fwd[n] for n in d_names) - fwd[d_names[0]] + 3 * dense
    d_input_grad = 2 * sum(fwd[n] for n in d_names) + 2 * dense
    d_step = g_fwd + 2 * d_train
    g_step = g_train + d_input_grad
    return d_step + g_step, d_step, g_step


def matmul_gflops(n, threads, repeats):
    """GFLOP/s of an n×n float32 matmul: numpy, MindSpore (jit) and torch (if installed)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    flops = 2 * n ** 3
    fns = {"numpy": lambda: a @ b}
    ta, tb = Tensor(a), Tensor(b)
    mm = ms.jit(ops.matmul)
    fns["mindspore"] = lambda: mm(ta, tb).asnumpy()
    try:
        import torch
        torch.set_num_threads(threads)
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = lambda: torch.mm(xa, xb)
    except ImportError:
        pass
    out = {}
    for name, f in fns.items():
        f()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        out[name] = flops / min(times) / 1e9          # best: the machine's capability
    return out


def gemm_time(m, k, n, repeats):
    """Median seconds of MindSpore's jit MatMul for (m, k) @ (k, n)."""
    rng = np.random.default_rng(0)
    a = Tensor(rng.standard_normal((m, k), np.float32))
    b = Tensor(rng.standard_normal((k, n), np.float32))
    mm = ms.jit(ops.matmul)
    mm(a, b).asnumpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, b).asnumpy()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def per_layer(a):
    """Per layer: MindSpore's conv Cell f+b vs its bare GEMMs (3 of the forward shape) vs
    PyTorch f+b."""
    print(f"per layer (batch {a.batch}, forward + input grad + weight grad, median of "
          f"{a.repeats}):")
    print(f"  {'layer':16s} {'GEMM M×K×N':>20s} {'GFLOP':>6s} {'3×GEMM ms':>9s} "
          f"{'conv ms':>8s} {'GEMM share':>10s} {'conv GF/s':>9s} {'torch ms':>8s} "
          f"{'torch GF/s':>10s}")
    for name, kind, cin, cout, k, s, p, hw in dcgan_layers(a.resolution, a.width, a.channels):
        (m, kk, n), _ = gemm_shape(kind, cin, cout, k, s, p, hw, a.batch)
        flops = 3 * 2 * m * kk * n
        gemm = 3 * gemm_time(m, kk, n, a.repeats)
        layer = make_layer(kind, cin, cout, k, s, p)
        x = np.random.default_rng(0).standard_normal((a.batch, cin, hw, hw)).astype(np.float32)
        sec = time_calls([compiled(layer)], Tensor(x), a.repeats)[0]
        line = (f"  {name:16s} {f'{m}×{kk}×{n}':>20s} {flops / 1e9:6.2f} {gemm * 1e3:9.1f} "
                f"{sec * 1e3:8.1f} {gemm / sec:10.0%} {flops / sec / 1e9:9.1f}")
        if a.torch:
            t_ms = torch_ms(kind, cin, cout, k, s, p, x, a)
            line += f" {t_ms:8.1f} {flops / t_ms / 1e6:10.1f}"
        print(line, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(ap)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2, help="iterations per runner per round")
    add_thread_args(ap)
    ap.add_argument("--matmul-size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5, help="matmul and per-layer repeats")
    ap.add_argument("--layers", action="store_true", help="add the per-layer GEMM table")
    ap.add_argument("--no-torch", dest="torch", action="store_false")
    a = ap.parse_args(argv)

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    use_threads(a.threads)
    ms.set_seed(0)
    cfg = load_config(None, [f"model.ngf={a.width}", f"model.ndf={a.width}",
                             f"train.batch_size={a.batch}"])
    layers = dcgan_layers(a.resolution, a.width, a.channels, cfg.model.z_dim)
    d_last = layers[-1]
    dense_in = d_last[3] * 16                        # D's last conv channels × 4 × 4
    total, d_step, g_step = step_flops(layers, a.batch, dense_in)

    runners = {"msgan": MsganRunner(cfg, a.resolution, a.channels, a.batch, ema=False)}
    if a.torch:
        import torch
        torch.set_num_threads(a.threads)
        torch.manual_seed(0)
        runners["torch"] = TorchRunner(cfg, a.resolution, a.channels, a.batch)
    med = time_rounds(runners, a.rounds, a.steps)
    peak = matmul_gflops(a.matmul_size, a.threads, a.repeats)
    best = max(peak.values())

    print(f"DCGAN {a.resolution}² ch={a.channels} ngf=ndf={a.width} batch={a.batch} "
          f"threads={a.threads}; conv+dense FLOPs per iteration {total / 1e9:.2f} G "
          f"(D step {d_step / 1e9:.2f}, G step {g_step / 1e9:.2f}); median of "
          f"{a.rounds * a.steps} iterations")
    print(f"  float32 {a.matmul_size}² matmul: " +
          ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peak.items()))
    for name, sec in med.items():
        achieved = total / sec / 1e9
        print(f"  {name:6s} {sec:7.3f} s/it  {achieved:6.1f} GFLOP/s  = {achieved / best:6.1%} "
              f"of the best matmul ({max(peak, key=peak.get)})", flush=True)
    if "torch" in med:
        print(f"  ratio msgan / PyTorch GFLOP/s = {med['torch'] / med['msgan']:.2f}x")
    if a.layers:
        per_layer(a)


if __name__ == "__main__":
    main()
