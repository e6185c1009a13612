"""StyleGAN2-ADA training speed (sec/kimg) with the per-phase split of one iteration.

    python -m benchmarks.bench_stylegan2 --resolution 32 --batch 8
    python -m benchmarks.bench_stylegan2 --resolution 64 --batch 8 --rounds 1

msgan's StyleGAN2Phases with SG2A's schedule: R1 every 16 iterations, path length every 4, ADA on.
Each round runs one 16-iteration cycle (so it holds exactly one R1 and four PL steps) twice:

* split: every compiled phase (G_main, G_reg, D_main, D_reg, EMA) is wrapped on the phases
  object with a timer that waits for its outputs; the data time (BatchSampler batch → Tensor) is
  timed too, and the rest of the iteration is host overhead (Python in ``step``, latents, ADA).
* plain: the same iteration without the timers, as the training loop runs it (data, step, EMA,
  one wait on the losses at the end).

There is no PyTorch StyleGAN2 here to compare with, so the ratios printed are measured in the same
run: each phase's share of the split iteration, and plain iteration / sum of the phases
(> 1: time spent outside the compiled graphs). No library code is changed by the timers.
Channels default to ``channel_base=2048, channel_max=128`` (the 16384/512 default is far
too slow on a CPU); ``--channel-base/--channel-max/--w-dim`` change that.
"""
import argparse
import statistics
import time
from collections import defaultdict

import numpy as np
import mindspore as ms
from mindspore import Tensor

from benchmarks.bench_conv import add_thread_args, use_threads
from msgan.config import load_config
from msgan.data.pipeline import BatchSampler
from msgan.models import stylegan2
from msgan.train.phases import ema_beta
from msgan.train.sg2_phases import StyleGAN2Phases

PHASES = {"G_main": "_g_main", "G_reg": "_g_reg", "D_main": "_d_main", "D_reg": "_d_reg",
          "EMA": "_ema"}
CYCLE = 16                                    # lcm of the R1 (16) and PL (4) intervals


def _wait(out):
    for t in out if isinstance(out, (tuple, list)) else (out,):
        t.asnumpy()


class Timed:
    """Calls a compiled phase and adds its wall time (outputs ready) to ``acc[name]``."""

    def __init__(self, fn, name, acc, counts):
        self.fn, self.name, self.acc, self.counts = fn, name, acc, counts

    def __call__(self, *args):
        t = time.perf_counter()
        out = self.fn(*args)
        _wait(out)
        self.acc[self.name] += time.perf_counter() - t
        self.counts[self.name] += 1
        return out


class Bench:
    def __init__(self, cfg, resolution, batch, num_classes):
        ms.set_seed(0)
        G, D = stylegan2.build(cfg.model, resolution, 3, num_classes)
        G_ema, _ = stylegan2.build(cfg.model, resolution, 3, num_classes)
        for pe, p in zip(G_ema.get_parameters(), G.get_parameters()):
            pe.set_data(p.data.copy())
        self.ph = StyleGAN2Phases(cfg, G, D, G_ema, num_classes)
        self.plain = {name: getattr(self.ph, attr) for name, attr in PHASES.items()}
        self.acc, self.counts = defaultdict(float), defaultdict(int)
        self.timed = {name: Timed(fn, name, self.acc, self.counts)
                      for name, fn in self.plain.items()}
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (256, 3, resolution, resolution), dtype=np.uint8)
        self.sampler = BatchSampler(images, np.arange(256) % max(num_classes, 1), batch, 0, True)
        self.cfg, self.batch, self.it = cfg, batch, 0

    def _use(self, fns):
        for name, attr in PHASES.items():
            setattr(self.ph, attr, fns[name])

    def iteration(self, split: bool):
        t = time.perf_counter()
        reals, labels = next(self.sampler)
        reals, labels = Tensor(reals), Tensor(labels)
        if split:
            self.acc["data"] += time.perf_counter() - t
        stats = self.ph.step(reals, labels, self.it)
        self.it += 1
        beta = ema_beta(self.batch, self.it * self.batch, self.cfg.train.ema_kimg,
                        self.cfg.train.ema_rampup)
        self.ph.update_ema(Tensor(beta, ms.float32))
        float(stats["loss_G"].asnumpy()) + float(stats["loss_D"].asnumpy())
        return time.perf_counter() - t

    def cycle(self, split: bool) -> float:
        """Seconds for CYCLE iterations (starting right after an R1 iteration)."""
        self._use(self.timed if split else self.plain)
        return sum(self.iteration(split) for _ in range(CYCLE))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channel-base", type=int, default=2048)
    ap.add_argument("--channel-max", type=int, default=128)
    ap.add_argument("--w-dim", type=int, default=512, help="z_dim = w_dim")
    ap.add_argument("--classes", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=2, help="16-iteration cycles of each kind")
    add_thread_args(ap)
    ap.add_argument("--jit-level", default="O0", choices=("O0", "O1"))
    a = ap.parse_args(argv)

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    use_threads(a.threads)
    cfg = load_config(None, [
        "model.name=stylegan2", f"model.z_dim={a.w_dim}", f"model.w_dim={a.w_dim}",
        f"model.channel_base={a.channel_base}", f"model.channel_max={a.channel_max}",
        "model.r1_interval=16", "model.pl_interval=4", "model.augment=ada",
        f"data.resolution={a.resolution}", f"train.batch_size={a.batch}",
        f"train.jit_level={a.jit_level}"])
    bench = Bench(cfg, a.resolution, a.batch, a.classes)
    t = time.perf_counter()
    bench.iteration(False)                    # iteration 0 runs (and compiles) every phase
    compile_s = time.perf_counter() - t
    split, plain = [], []
    for r in range(a.rounds):
        bench.acc.clear()
        bench.counts.clear()
        split.append((bench.cycle(True), dict(bench.acc), dict(bench.counts)))
        plain.append(bench.cycle(False))

    # the round with the median split total, so its parts add up to the total shown
    total, acc, counts = sorted(split, key=lambda s: s[0])[len(split) // 2]
    plain_s = statistics.median(plain)
    its_per_kimg = 1000 / a.batch
    phases = sum(v for k, v in acc.items() if k != "data")
    acc["host overhead"] = total - sum(acc.values())
    print(f"StyleGAN2-ADA {a.resolution}² batch={a.batch} channel_base={a.channel_base} "
          f"channel_max={a.channel_max} z=w={a.w_dim} classes={a.classes} threads={a.threads} "
          f"jit_level={a.jit_level}; R1/16, PL/4, ADA p={bench.ph.ada.p:.3f}; "
          f"first iteration (compile) {compile_s:.0f} s; median of {a.rounds} "
          f"{CYCLE}-iteration cycles")
    print(f"  {'part':14s} {'calls/16 it':>11s} {'ms/call':>9s} {'ms/it':>8s} {'share':>6s}")
    for name in list(PHASES) + ["data", "host overhead"]:
        n = counts.get(name, CYCLE if name in ("data", "host overhead") else 0)
        sec = acc.get(name, 0.0)
        per_call = f"{sec / n * 1e3:9.1f}" if n else f"{'-':>9s}"
        print(f"  {name:14s} {n:11d} {per_call} {sec / CYCLE * 1e3:8.1f} "
              f"{sec / total:6.1%}")
    print(f"  {'total (split)':14s} {'':11s} {'':9s} {total / CYCLE * 1e3:8.1f} {1:6.1%}  "
          f"= {total / CYCLE * its_per_kimg:.0f} s/kimg")
    print(f"  {'total (plain)':14s} {'':11s} {'':9s} {plain_s / CYCLE * 1e3:8.1f} {'':6s}  "
          f"= {plain_s / CYCLE * its_per_kimg:.0f} s/kimg")
    print(f"  ratio plain iteration / sum of compiled phases = {plain_s / phases:.2f}x "
          f"(host overhead + data: {1 - phases / plain_s:.1%} of the plain iteration)", flush=True)


if __name__ == "__main__":
    main()
