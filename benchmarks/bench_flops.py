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
``2·N·Cin·H·W·Cout·k²`` (every input pixel times every tap, no inserted zeros), which is exactly
the GEMM that ``fastconv.ConvTranspose2d`` runs.

The step times come from bench_dcgan's runners (same nets, same alternating rounds; msgan
without its EMA update, which has no conv FLOPs). The reference peak is a large square float32
matmul measured in the same run with the same thread count: numpy (its BLAS), MindSpore MatMul
under jit, and torch.mm. ``--layers`` adds, per layer, the GEMM that fastconv runs timed alone in
MindSpore vs the whole fastconv layer (forward + both grads) vs PyTorch's layer: the share of a
layer's time that is GEMM shows how much is data movement around it.
"""
import argparse
import statistics
import time

import numpy as np
import mindspore as ms
from mindspore import Tensor, ops

from benchmarks.bench_conv import (add_model_args, add_thread_args, compiled, dcgan_layers,
                                   make_pair, time_calls, torch_ms, use_threads)
from benchmarks.bench_dcgan import MsganRunner, TorchRunner, time_rounds
from msgan.config import load_config


def gemm_shape(kind, cin, cout, k, s, p, hw, batch):
    """(M, K, N) of the forward GEMM fastconv runs for this layer, and its output size."""
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
    """Per layer: fastconv f+b vs its bare GEMMs (3 of the forward shape) vs PyTorch f+b."""
    print(f"per layer (batch {a.batch}, forward + input grad + weight grad, median of "
          f"{a.repeats}):")
    print(f"  {'layer':16s} {'GEMM M×K×N':>20s} {'GFLOP':>6s} {'3×GEMM ms':>9s} "
          f"{'fast ms':>8s} {'GEMM share':>10s} {'fast GF/s':>9s} {'torch ms':>8s} "
          f"{'torch GF/s':>10s}")
    for name, kind, cin, cout, k, s, p, hw in dcgan_layers(a.resolution, a.width, a.channels):
        (m, kk, n), _ = gemm_shape(kind, cin, cout, k, s, p, hw, a.batch)
        flops = 3 * 2 * m * kk * n
        gemm = 3 * gemm_time(m, kk, n, a.repeats)
        _, fast = make_pair(kind, cin, cout, k, s, p)
        x = np.random.default_rng(0).standard_normal((a.batch, cin, hw, hw)).astype(np.float32)
        fast_s = time_calls([compiled(fast, True)], Tensor(x), a.repeats)[0]
        line = (f"  {name:16s} {f'{m}×{kk}×{n}':>20s} {flops / 1e9:6.2f} {gemm * 1e3:9.1f} "
                f"{fast_s * 1e3:8.1f} {gemm / fast_s:10.0%} {flops / fast_s / 1e9:9.1f}")
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

    runners = {"msgan": MsganRunner(cfg, a.resolution, a.channels, a.batch, fast=True,
                                    ema=False)}
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
