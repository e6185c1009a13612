"""DCGAN train-step throughput: msgan vs the same net in PyTorch.

    python -m benchmarks.bench_dcgan --resolution 32 --width 64 --channels 3 --batch 64

One iteration = D step (G forward without grad, D on reals and fakes, Adam on D) + G step (fresh
z, G and D forward, grads for G only, Adam on G); msgan's iteration also includes its EMA update
of G_ema, as its training loop does (``--no-ema`` leaves it out). The PyTorch reference has the
same layers, init scale, BatchNorm placement, losses, optimizer and batch; D's weights are frozen
during its G step so neither side computes D weight gradients there. Both run in one process with
the same thread count, in alternating rounds so that load from other jobs hits both alike;
reported numbers are medians of per-iteration times after warm-up. PyTorch is a benchmark-only
extra (``pip install torch``); msgan never imports it.
"""
import argparse
import statistics
import time

import numpy as np
import mindspore as ms

from benchmarks.options import add_model_args, add_thread_args, use_threads
from msgan.config import load_config
from msgan.models import dcgan
from msgan.train.phases.base import Progress
from msgan.train.phases.classic import ClassicPhases


def build_msgan(cfg, resolution, channels):
    """(G, D, G_ema) from msgan.models.dcgan.build, G_ema starting as G."""
    G, D = dcgan.build(cfg.model, resolution, channels, 0)
    G_ema, _ = dcgan.build(cfg.model, resolution, channels, 0)
    for pe, p in zip(G_ema.get_parameters(), G.get_parameters()):
        pe.set_data(p.data.copy())
    return G, D, G_ema


class MsganRunner:
    def __init__(self, cfg, resolution, channels, batch, ema):
        G, D, G_ema = build_msgan(cfg, resolution, channels)
        self.phases = ClassicPhases(cfg, {"G": G, "D": D, "G_ema": G_ema})
        if not ema:     # the step ends with G_ema's update; this leaves it out
            self.phases._ema_step = lambda beta: beta
        rng = np.random.default_rng(0)
        self.batch = (rng.uniform(-1, 1, (batch, channels, resolution, resolution))
                      .astype(np.float32), np.zeros(batch, np.int32))
        self.it = 0

    def __call__(self):
        n = len(self.batch[1])
        out = self.phases.step(self.batch, self.it, Progress(self.it * n, 10 ** 9))
        self.it += 1
        return float(out["loss_G"].asnumpy()) + float(out["loss_D"].asnumpy())


class TorchRunner:
    """The same DCGAN in PyTorch (nn.ConvTranspose2d/Conv2d, BatchNorm, BCE-with-logits, Adam)."""

    def __init__(self, cfg, resolution, channels, batch):
        import torch
        from torch import nn
        self.torch = torch
        m, n = cfg.model, int(np.log2(resolution)) - 2
        width = lambda base, level: base * min(8, 2 ** level)
        g = [nn.ConvTranspose2d(m.z_dim, width(m.ngf, n - 1), 4, 1, 0, bias=False),
             nn.BatchNorm2d(width(m.ngf, n - 1)), nn.ReLU()]
        w = width(m.ngf, n - 1)
        for level in range(n - 2, -1, -1):
            g += [nn.ConvTranspose2d(w, width(m.ngf, level), 4, 2, 1, bias=False),
                  nn.BatchNorm2d(width(m.ngf, level)), nn.ReLU()]
            w = width(m.ngf, level)
        g += [nn.ConvTranspose2d(w, channels, 4, 2, 1, bias=False), nn.Tanh()]
        d, cin = [], channels
        for level in range(n):
            cout = width(m.ndf, level)
            d.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=level == 0))
            if level > 0:
                d.append(nn.BatchNorm2d(cout))
            d.append(nn.LeakyReLU(0.2))
            cin = cout
        d += [nn.Flatten(), nn.Linear(cin * 16, 1)]
        self.G, self.D = nn.Sequential(*g), nn.Sequential(*d)
        for net in (self.G, self.D):
            for mod in net.modules():
                if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    nn.init.normal_(mod.weight, 0.0, 0.02)
        opt_g, opt_d = cfg.train.G_opt, cfg.train.D_opt
        self.opt_G = torch.optim.Adam(self.G.parameters(), opt_g.lr, tuple(opt_g.betas), opt_g.eps)
        self.opt_D = torch.optim.Adam(self.D.parameters(), opt_d.lr, tuple(opt_d.betas), opt_d.eps)
        gen = torch.Generator().manual_seed(0)
        self.reals = torch.rand((batch, channels, resolution, resolution), generator=gen) * 2 - 1
        self.batch, self.z_dim = batch, m.z_dim

    def __call__(self):
        torch, F = self.torch, self.torch.nn.functional
        z = torch.randn(self.batch, self.z_dim, 1, 1)
        with torch.no_grad():
            fakes = self.G(z)
        real_logits, fake_logits = self.D(self.reals), self.D(fakes)
        loss_D = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()
        self.D.requires_grad_(False)
        z = torch.randn(self.batch, self.z_dim, 1, 1)
        loss_G = F.softplus(-self.D(self.G(z))).mean()
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()
        self.D.requires_grad_(True)
        return loss_G.item() + loss_D.item()


def time_rounds(runners, rounds, steps):
    """Median seconds per iteration of each runner, alternating blocks of ``steps`` iterations."""
    for run in runners.values():
        run()                                     # compile / warm up
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            for _ in range(steps):
                t = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(ap)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2, help="iterations per runner per round")
    add_thread_args(ap)
    ap.add_argument("--jit-level", default="O0", choices=("O0", "O1"))
    ap.add_argument("--ms-threads", type=int, default=None,
                    help="MindSpore's intra-op threads (threads_num) if not --threads; the MatMul "
                         "uses every allowed core either way")
    ap.add_argument("--dispatch-threads", type=int, default=None,
                    help="MindSpore runtime (actor) threads, ms.runtime.dispatch_threads_num; "
                         "MindSpore's default is 5")
    ap.add_argument("--impl", default="msgan,torch", help="comma list of runners: msgan, torch")
    ap.add_argument("--no-ema", action="store_true", help="leave msgan's EMA update out")
    a = ap.parse_args(argv)

    ms.set_context(mode=ms.GRAPH_MODE)
    use_threads(a.threads, a.ms_threads or 0)
    if a.dispatch_threads:
        ms.runtime.dispatch_threads_num(a.dispatch_threads)
    ms.set_seed(0)
    cfg = load_config(None, [f"model.ngf={a.width}", f"model.ndf={a.width}",
                             f"train.batch_size={a.batch}", f"train.jit_level={a.jit_level}"])
    runners = {}
    for name in a.impl.split(","):
        if name == "torch":
            import torch
            torch.set_num_threads(a.threads)
            torch.manual_seed(0)
            runners["torch"] = TorchRunner(cfg, a.resolution, a.channels, a.batch)
        elif name == "msgan":
            runners["msgan"] = MsganRunner(cfg, a.resolution, a.channels, a.batch,
                                           ema=not a.no_ema)
        else:
            ap.error(f"unknown runner {name!r}")
    med = time_rounds(runners, a.rounds, a.steps)
    print(f"DCGAN {a.resolution}² ch={a.channels} ngf=ndf={a.width} batch={a.batch} "
          f"threads={a.threads} jit_level={a.jit_level} msgan EMA={'off' if a.no_ema else 'on'} "
          f"median of {a.rounds * a.steps} iterations")
    for name, sec in med.items():
        line = f"  {name:14s} {sec:7.3f} s/it  {a.batch / sec:8.1f} img/s"
        if "torch" in med and name != "torch":
            line += f"  = {med['torch'] / sec:.2f}x PyTorch"
        print(line, flush=True)


if __name__ == "__main__":
    main()
