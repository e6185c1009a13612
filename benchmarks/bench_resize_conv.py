"""The shipped DCGAN's train step with ``resize_conv`` as one transposed conv vs as two ops.

    python -m benchmarks.bench_resize_conv --resolution 32 --channels 1 --ndf 32 --threads 2

``configs/dcgan.yaml`` (upsample: resize_conv, g_cond: cbn, DiffAugment, 10 classes) trained by
msgan's own ClassicPhases, twice in one process: G's blocks as msgan builds them
(``msgan.models.layers.ResizeConv2d``: one 4x4 stride-2 transposed conv whose kernel is computed
from the 3x3 weight) and as the textbook form they replace (nearest 2x upsample written with
reshape + tile, then a 3x3 conv), which computes the same images and gradients. Alternating
rounds, medians of per-iteration times after warm-up, and the machine's load before and after.
"""
import argparse
import os
import statistics
import time

import numpy as np
from mindspore import nn, ops

from benchmarks.options import add_thread_args, use_threads
from msgan.config import load_config
from msgan.models import dcgan
from msgan.runtime import select_device
from msgan.train.phases.base import Progress
from msgan.train.phases.classic import ClassicPhases

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "configs", "dcgan.yaml")


class _UpsampleNearest2x(nn.Cell):
    def construct(self, x):
        n, c, h, w = x.shape
        x = ops.tile(x.reshape(n, c, h, 1, w, 1), (1, 1, 1, 2, 1, 2))
        return x.reshape(n, c, h * 2, w * 2)


def _two_op_block(cin, cout, mode):
    assert mode == "resize_conv", mode
    return [_UpsampleNearest2x(),
            nn.Conv2d(cin, cout, 3, 1, pad_mode="pad", padding=1, weight_init=dcgan._weights(),
                      has_bias=False)]


class Runner:
    def __init__(self, cfg, resolution, channels, classes, two_ops):
        build_block = dcgan._up_block
        if two_ops:
            dcgan._up_block = _two_op_block
        try:
            nets = [dcgan.build(cfg.model, resolution, channels, classes) for _ in range(2)]
        finally:
            dcgan._up_block = build_block
        (G, D), (G_ema, _) = nets
        self.phases = ClassicPhases(cfg, {"G": G, "D": D, "G_ema": G_ema})
        rng = np.random.default_rng(0)
        n = cfg.train.batch_size
        self.batch = (rng.uniform(-1, 1, (n, channels, resolution, resolution)).astype(np.float32),
                      (np.arange(n) % max(classes, 1)).astype(np.int32))
        self.it = 0

    def __call__(self):
        n = len(self.batch[1])
        out = self.phases.step(self.batch, self.it, Progress(self.it * n, 10 ** 9))
        self.it += 1
        return float(out["loss_G"].asnumpy())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--ndf", type=int, default=32, help="D's width (auto gives ngf/2 = 32 "
                                                        "below 1000 training images)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3, help="iterations per runner per round")
    add_thread_args(ap)
    a = ap.parse_args(argv)

    select_device("CPU")
    use_threads(a.threads)
    load_before = os.getloadavg()[0]
    cfg = load_config(CONFIG, [f"model.ndf={a.ndf}", f"data.resolution={a.resolution}",
                               f"data.channels={a.channels}"])
    runners = {"one transposed conv": Runner(cfg, a.resolution, a.channels, a.classes, False),
               "upsample + conv": Runner(cfg, a.resolution, a.channels, a.classes, True)}
    for run in runners.values():
        run(), run()                                   # compile, warm up
    times = {name: [] for name in runners}
    for _ in range(a.rounds):
        for name, run in runners.items():
            for _ in range(a.steps):
                t = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(t) for name, t in times.items()}
    kimg = 1000 / cfg.train.batch_size
    print(f"configs/dcgan.yaml at {a.resolution}² ch={a.channels} ngf={cfg.model.ngf} "
          f"ndf={a.ndf} classes={a.classes} batch={cfg.train.batch_size} threads={a.threads}, "
          f"median of {a.rounds * a.steps} iterations each, load {load_before:.2f} -> "
          f"{os.getloadavg()[0]:.2f}")
    for name, sec in med.items():
        print(f"  {name:20s} {sec:6.3f} s/it  {sec * kimg:6.2f} s/kimg")
    print(f"  upsample + conv / one transposed conv: "
          f"{med['upsample + conv'] / med['one transposed conv']:.2f}x")


if __name__ == "__main__":
    main()
