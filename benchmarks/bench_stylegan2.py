"""StyleGAN2-ADA training speed, memory and time to the first iteration, next to NVlabs' reference.

    python -m benchmarks.bench_stylegan2 --resolution 32 --reference /path/to/stylegan2-ada-pytorch
    python -m benchmarks.bench_stylegan2 --resolution 256 --channel-base 16384 --channel-max 512 \\
        --rounds 0 --max-rss-gb 16          # compile time and peak memory only

SG2A's schedule on both sides: R1 every 16 iterations (auto gamma), path length every 4 (half
batch), style mixing 0.9, ADA ('bgc') on, Adam (0, 0.99) with the lazy-regularisation correction,
G_ema after every iteration. Each framework runs in its own worker process (so peak memory is its
own), started one after the other (so compiling never overlaps); then the driver alternates
rounds: one 16-iteration cycle (exactly one R1 and four path-length steps) per worker per mode.

msgan modes (``--modes``):

* ``loop``: iterations as ``msgan.train.loop`` runs them (``StyleGAN2Phases.step`` + EMA, nothing
  waited on but what ``step`` waits on itself), one wait at the end of the cycle.
* ``nowait``: ``loop`` with the phases' per-phase wait switched off (``wait_phases = False``).
* ``split``: every compiled phase timed until its outputs are ready; the rest is data and host.

The reference (``--reference DIR``, a checkout of NVlabs/stylegan2-ada-pytorch: its own
``training.networks``, ``training.loss.StyleGAN2Loss`` and ``training.augment.AugmentPipe``,
driven in the order of its ``training_loop.py``: Gmain, Greg, Dmain, Dreg, G_ema, ADA every 4)
needs PyTorch (``pip install -e .[bench]``); without DIR or torch it is skipped with one line.
Ratios msgan/reference are of medians over the rounds, measured in the same run.

Peak memory is each worker's VmHWM (peak resident set). A watchdog stops a worker whose
resident set passes ``--max-rss-gb`` and reports how far it got. Time to the first iteration runs
from starting the worker process (imports included) to the end of iteration 0 (which compiles
every msgan phase); the per-phase compile time and resident set after each phase are printed too.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CYCLE = 16                                    # lcm of the R1 (16) and PL (4) intervals
PHASES = {"G_main": "_g_main", "G_reg": "_g_reg", "D_main": "_d_main", "D_reg": "_d_reg",
          "EMA": "_ema"}


def _proc_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_gb(pid="self"):
    return _proc_kb(pid, "VmRSS") / 2 ** 20


def _wait(out):
    for t in out if isinstance(out, (tuple, list)) else (out,):
        t.asnumpy()


def _fake_images(resolution, n=256):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 3, resolution, resolution), dtype=np.uint8)


# -- msgan worker ---------------------------------------------------------------------------------
class _Timed:
    """A compiled phase, timed until its outputs are ready; ``acc[name]`` += seconds."""

    def __init__(self, fn, name, acc, counts, rss):
        self.fn, self.name, self.acc, self.counts, self.rss = fn, name, acc, counts, rss

    def __call__(self, *args):
        t = time.perf_counter()
        out = self.fn(*args)
        _wait(out)
        self.acc[self.name] += time.perf_counter() - t
        self.counts[self.name] += 1
        self.rss[self.name] = max(self.rss.get(self.name, 0.0), _rss_gb())
        if self.counts[self.name] == 1:     # first call: compiled; say so at once (watchdog)
            print(f"  [msgan] {self.name} first call {self.acc[self.name]:.1f} s, RSS "
                  f"{self.rss[self.name]:.2f} GB", file=sys.stderr, flush=True)
        return out


class MsganWorker:
    """msgan's StyleGAN2Phases on ``images`` (uint8 NCHW; random pixels when None), seeded."""

    def __init__(self, a, images=None, seed=0):
        import mindspore as ms
        from msgan.config import load_config
        from msgan.data.pipeline import BatchSampler
        from msgan.models import stylegan2
        from msgan.train.phases.stylegan2 import StyleGAN2Phases
        from benchmarks.options import use_threads

        from msgan.ops import onednn
        onednn.cap_cpu_isa()   # as runtime.select_device does for msgan; not for the reference
        ms.set_context(mode=ms.GRAPH_MODE)
        ms.set_device("CPU")
        use_threads(a.threads)
        # the shipped config (SG2A's lr, betas, EMA ramp-up, ADA settings) at the bench's size
        cfg = load_config(os.path.join(ROOT, "configs", "stylegan2.yaml"), [
            f"model.z_dim={a.w_dim}", f"model.w_dim={a.w_dim}",
            f"model.channel_base={a.channel_base}", f"model.channel_max={a.channel_max}",
            "model.r1_interval=16", "model.pl_interval=4", f"model.augment={a.augment}",
            f"data.resolution={a.resolution}", f"train.batch_size={a.batch}",
            f"train.jit_level={a.jit_level}", f"train.seed={seed}", "data.mirror=false"])
        ms.set_seed(seed)
        np.random.seed(seed)
        G, D = stylegan2.build(cfg.model, a.resolution, 3, 0)
        G_ema, _ = stylegan2.build(cfg.model, a.resolution, 3, 0)
        for pe, p in zip(G_ema.get_parameters(), G.get_parameters()):
            pe.set_data(p.data.copy())
        self.ph = StyleGAN2Phases(cfg, {"G": G, "D": D, "G_ema": G_ema})
        self.default_wait = self.ph.wait_phases
        self.plain = {name: getattr(self.ph, attr) for name, attr in PHASES.items()}
        self.acc, self.counts, self.rss = defaultdict(float), defaultdict(int), {}
        self.timed = {n: _Timed(fn, n, self.acc, self.counts, self.rss)
                      for n, fn in self.plain.items()}
        images = _fake_images(a.resolution) if images is None else images
        self.sampler = BatchSampler(images, np.zeros(len(images), np.int64), a.batch, seed,
                                    mirror=False)
        self.batch, self.it = a.batch, 0

    def _iteration(self, split):
        from msgan.train.phases.base import Progress
        t = time.perf_counter()
        reals, labels = next(self.sampler)
        batch = (reals, labels.astype(np.int32))
        if split:
            self.acc["data"] += time.perf_counter() - t
        # the step ends with the EMA of G_ema, at the beta of this point of the schedule
        self.last = self.ph.step(batch, self.it, Progress(self.it * self.batch, 10 ** 9))
        self.it += 1

    def first(self):
        """Iteration 0 with every phase timed: compile time and resident set per phase."""
        self._use(True)
        self._iteration(True)
        out = {"compile_s": {k: round(v, 1) for k, v in self.acc.items() if k != "data"},
               "rss_after_gb": {k: round(v, 2) for k, v in self.rss.items()}}
        self.acc.clear()
        self.counts.clear()
        return out

    def _use(self, split):
        for name, attr in PHASES.items():
            setattr(self.ph, attr, (self.timed if split else self.plain)[name])

    def cycle(self, mode):
        self._use(mode == "split")
        self.ph.wait_phases = self.default_wait if mode != "nowait" else False
        self.acc.clear()
        self.counts.clear()
        t = time.perf_counter()
        for _ in range(CYCLE):
            self._iteration(mode == "split")
        _wait(list(self.last.values()) + [self.ph.G_ema.synthesis.b4.const])
        total = time.perf_counter() - t
        self.ph.wait_phases = self.default_wait
        out = {"seconds": total}
        if mode == "split":
            out["parts"] = dict(self.acc)
            out["counts"] = dict(self.counts)
        return out


# -- reference worker (NVlabs/stylegan2-ada-pytorch's own training code) --------------------------
class ReferenceWorker:
    """SG2A's own training code on ``images`` (random pixels when None), seeded.

    ``r1_on_augmented``: R1 taken with respect to the augmented reals (as msgan takes it) instead
    of through the augment pipe to the un-augmented reals (SG2A), to measure that deviation.
    """

    def __init__(self, a, images=None, seed=0, r1_on_augmented=False):
        sys.path.insert(0, os.path.abspath(a.reference))
        import copy
        import torch
        from torch_utils import training_stats
        from training.augment import AugmentPipe
        from training.loss import StyleGAN2Loss
        from training.networks import Discriminator, Generator

        if a.threads:
            torch.set_num_threads(a.threads)
        torch.manual_seed(seed)
        np.random.seed(seed)
        self.torch = torch
        common = dict(c_dim=0, img_resolution=a.resolution, img_channels=3)
        widths = dict(channel_base=a.channel_base, channel_max=a.channel_max, num_fp16_res=0,
                      conv_clamp=None)
        self.G = Generator(z_dim=a.w_dim, w_dim=a.w_dim, mapping_kwargs=dict(num_layers=2),
                           synthesis_kwargs=widths, **common).train().requires_grad_(False)
        self.D = Discriminator(epilogue_kwargs=dict(mbstd_group_size=4), **widths,
                               **common).train().requires_grad_(False)
        self.G_ema = copy.deepcopy(self.G).eval()
        self.aug = AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                               brightness=1, contrast=1, lumaflip=1, hue=1,
                               saturation=1).train().requires_grad_(False)
        self.aug.p.copy_(torch.as_tensor(0.0))
        gamma = 0.0002 * a.resolution ** 2 / a.batch          # SG2A's auto gamma, as msgan's
        self.loss = StyleGAN2Loss(device=torch.device("cpu"), G_mapping=self.G.mapping,
                                  G_synthesis=self.G.synthesis, D=self.D,
                                  augment_pipe=self.aug, style_mixing_prob=0.9, r1_gamma=gamma,
                                  pl_batch_shrink=2, pl_decay=0.01, pl_weight=2)
        self.phases = []
        for name, module, interval in (("G", self.G, 4), ("D", self.D, 16)):
            c = interval / (interval + 1)
            opt = torch.optim.Adam(module.parameters(), lr=0.0025 * c,
                                   betas=(0.0 ** c, 0.99 ** c), eps=1e-8)
            self.phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
        self.ada_stats = training_stats.Collector(regex="Loss/signs/real")
        self.images = _fake_images(a.resolution) if images is None else images
        self.rng = np.random.default_rng(seed)
        self.r1_on_augmented = r1_on_augmented
        self.batch, self.z_dim, self.it, self.nimg = a.batch, a.w_dim, 0, 0

    def _iteration(self):
        torch = self.torch
        idx = self.rng.integers(0, len(self.images), self.batch)
        real = torch.from_numpy(self.images[idx]).to(torch.float32) / 127.5 - 1
        c = torch.zeros([self.batch, 0])
        for name, module, opt, interval in self.phases:
            if self.it % interval:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            z = torch.randn([self.batch, self.z_dim])
            pipe, real_in = self.loss.augment_pipe, real
            if name == "Dreg" and self.r1_on_augmented:
                with torch.no_grad():
                    real_in = self.aug(real)
                self.loss.augment_pipe = None
            self.loss.accumulate_gradients(phase=name, real_img=real_in, real_c=c, gen_z=z,
                                           gen_c=c, sync=True, gain=interval)
            self.loss.augment_pipe = pipe
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        with torch.no_grad():
            self.nimg += self.batch
            ema_nimg = min(self.batch * 10 / 32 * 1000, self.nimg * 0.05)   # SG2A auto
            beta = 0.5 ** (self.batch / max(ema_nimg, 1e-8))
            for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                pe.copy_(p.lerp(pe, beta))
            for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
                be.copy_(b)
            self.it += 1
            if self.it % 4 == 0:                                     # ADA heuristic
                self.ada_stats.update()
                adjust = np.sign(self.ada_stats["Loss/signs/real"] - 0.6) * self.batch * 4 / 5e5
                self.aug.p.copy_((self.aug.p + adjust).clamp(min=0))

    def first(self):
        self._iteration()
        return {}

    def cycle(self, mode):
        t = time.perf_counter()
        for _ in range(CYCLE):
            self._iteration()
        return {"seconds": time.perf_counter() - t}


def worker_main(a):
    out = sys.stdout
    sys.stdout = sys.stderr                  # only the protocol goes to the pipe
    try:
        w = MsganWorker(a) if a.worker == "msgan" else ReferenceWorker(a)
        info = w.first()
    except Exception as e:  # report to the driver, which prints one line
        out.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
        out.flush()
        return
    out.write(json.dumps({"ready": time.time(), **info}) + "\n")
    out.flush()
    for line in sys.stdin:
        mode = line.strip()
        if mode == "quit":
            break
        out.write(json.dumps(w.cycle(mode)) + "\n")
        out.flush()


# -- driver ---------------------------------------------------------------------------------------
class Worker:
    """A worker process with a watchdog on its resident set."""

    def __init__(self, kind, argv, max_rss_gb):
        self.kind, self.stopped = kind, None
        self.start = time.time()
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_stylegan2",
                                      "--worker", kind, *argv], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.peak_gb = 0.0
        self._limit = max_rss_gb
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        while self.proc.poll() is None:
            rss = _rss_gb(self.proc.pid)
            self.peak_gb = max(self.peak_gb, _proc_kb(self.proc.pid, "VmHWM") / 2 ** 20, rss)
            if rss > self._limit:
                self.stopped = f"stopped by the watchdog at {rss:.1f} GB resident"
                self.proc.kill()
            time.sleep(0.5)

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(self.stopped or f"{self.kind} worker exited "
                               f"(code {self.proc.wait()})")
        msg = json.loads(line)
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg

    def ask(self, mode):
        self.proc.stdin.write(mode + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        if self.proc.poll() is None:
            self.peak_gb = max(self.peak_gb, _proc_kb(self.proc.pid, "VmHWM") / 2 ** 20)
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait()


def _reference_problem(path):
    if not path:
        return "no --reference DIR given"
    if not os.path.isfile(os.path.join(path, "training", "networks.py")):
        return f"{path} has no training/networks.py (point --reference at a checkout of " \
               "NVlabs/stylegan2-ada-pytorch)"
    try:
        import torch  # noqa: F401
    except ImportError:
        return "PyTorch is not installed (pip install -e .[bench])"
    return None


def main(argv=None):
    from benchmarks.options import add_thread_args
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channel-base", type=int, default=2048)
    ap.add_argument("--channel-max", type=int, default=128)
    ap.add_argument("--w-dim", type=int, default=512, help="z_dim = w_dim")
    ap.add_argument("--rounds", type=int, default=2, help="16-iteration cycles per mode")
    ap.add_argument("--modes", default="loop,split", help="msgan modes: loop, nowait, split")
    ap.add_argument("--augment", default="ada", choices=("ada", "none"),
                    help="msgan's augment pipe (the reference always runs ADA)")
    ap.add_argument("--reference", default="", help="checkout of NVlabs/stylegan2-ada-pytorch")
    ap.add_argument("--max-rss-gb", type=float, default=16.0)
    ap.add_argument("--jit-level", default="O0", choices=("O0", "O1"))
    ap.add_argument("--worker", choices=("msgan", "reference"), help=argparse.SUPPRESS)
    add_thread_args(ap)
    a = ap.parse_args(argv)
    if a.worker:
        return worker_main(a)

    wargv = [f"--resolution={a.resolution}", f"--batch={a.batch}",
             f"--channel-base={a.channel_base}", f"--channel-max={a.channel_max}",
             f"--w-dim={a.w_dim}", f"--jit-level={a.jit_level}", f"--reference={a.reference}",
             f"--augment={a.augment}"]
    if a.threads:
        wargv.append(f"--threads={a.threads}")
    print(f"StyleGAN2-ADA {a.resolution}² batch={a.batch} channel_base={a.channel_base} "
          f"channel_max={a.channel_max} z=w={a.w_dim} threads={a.threads or 'default'} "
          f"jit_level={a.jit_level}; R1/16, PL/4, msgan augment={a.augment}; "
          f"{a.rounds} rounds of {CYCLE} iterations; "
          f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    workers, first = {}, {}
    problem = _reference_problem(a.reference)
    kinds = ["msgan"] + ([] if problem else ["reference"])
    if problem:
        print(f"reference: skipped — {problem}", flush=True)
    for kind in kinds:
        w = Worker(kind, wargv, a.max_rss_gb)
        try:
            info = w.read()
        except RuntimeError as e:
            print(f"{kind}: did not reach the first iteration: {e}; "
                  f"{time.time() - w.start:.0f} s, peak RSS {w.peak_gb:.2f} GB", flush=True)
            w.close()
            continue
        first[kind] = info["ready"] - w.start
        workers[kind] = w
        print(f"{kind}: first iteration done {first[kind]:.0f} s after the process started, "
              f"RSS now {_rss_gb(w.proc.pid):.2f} GB", flush=True)
        if info.get("compile_s"):
            print("  first call of each phase (compile + run), s: " + json.dumps(info["compile_s"])
                  + "; RSS after it, GB: " + json.dumps(info["rss_after_gb"]), flush=True)

    modes = [m for m in a.modes.split(",") if m]
    times = defaultdict(list)
    split = []
    for r in range(a.rounds):
        for kind, w in workers.items():
            for mode in (modes if kind == "msgan" else ["loop"]):
                try:
                    res = w.ask(mode)
                except RuntimeError as e:
                    print(f"{kind} {mode}: {e}", flush=True)
                    continue
                times[(kind, mode)].append(res["seconds"])
                if mode == "split":
                    split.append(res)
                print(f"  round {r} {kind:9s} {mode:6s} "
                      f"{res['seconds'] / CYCLE * 1000 / a.batch:7.1f} s/kimg", flush=True)
    for w in workers.values():
        w.close()

    its_per_kimg = 1000 / a.batch
    med = {k: statistics.median(v) / CYCLE * its_per_kimg for k, v in times.items()}
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if split:
        res = sorted(split, key=lambda s: s["seconds"])[len(split) // 2]
        total, acc, counts = res["seconds"], res["parts"], res["counts"]
        print(f"msgan split (round with the median total): {'part':14s} {'calls':>5s} "
              f"{'ms/call':>9s} {'ms/it':>8s} {'share':>6s}")
        phases = sum(v for k, v in acc.items() if k != "data")
        acc["host"] = total - sum(acc.values())
        for name in list(PHASES) + ["data", "host"]:
            n = counts.get(name, CYCLE)
            sec = acc.get(name, 0.0)
            print(f"  {name:14s} {n:5d} {sec / max(n, 1) * 1e3:9.1f} {sec / CYCLE * 1e3:8.1f} "
                  f"{sec / total:6.1%}")
        print(f"  sum of compiled phases {phases / CYCLE * its_per_kimg:.0f} s/kimg")
    print(f"{'':24s} {'sec/kimg':>9s} {'peak RSS GB':>12s} {'first it s':>11s}")
    for (kind, mode), v in sorted(med.items()):
        print(f"{kind + ' ' + mode:24s} {v:9.1f} {workers[kind].peak_gb:12.2f} "
              f"{first[kind]:11.0f}")
    ref = med.get(("reference", "loop"))
    if ref:
        wr = workers["reference"]
        for mode in modes:
            if ("msgan", mode) in med:
                print(f"msgan {mode} / reference: sec/kimg {med[('msgan', mode)] / ref:.2f}x, "
                      f"peak RSS {workers['msgan'].peak_gb / wr.peak_gb:.2f}x, first iteration "
                      f"{first['msgan'] / first['reference']:.2f}x")
    if ("msgan", "nowait") in med and ("msgan", "loop") in med:
        print(f"msgan nowait / loop: {med[('msgan', 'nowait')] / med[('msgan', 'loop')]:.2f}x")


if __name__ == "__main__":
    main()
