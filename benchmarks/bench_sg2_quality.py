"""StyleGAN2-ADA quality per kimg next to NVlabs' reference: is msgan's StyleGAN2-ADA the same
learner, not only the same shapes?

    python -m benchmarks.bench_sg2_quality --reference /path/to/stylegan2-ada-pytorch \\
        --out /tmp/sg2_quality --seeds 0,1,2 --kimg 8 --every 2

Every variant trains the same tiny config (``--resolution`` 16, batch 8, ``--channel-base`` /
``--channel-max`` widths, z = w = ``--w-dim``, ADA on from p = 0, R1 every 16 with SG2A's auto
gamma, path length every 4, style mixing 0.9, Adam (0, 0.99) lr 0.0025 with the lazy
regularisation correction, SG2A's EMA and ramp-up) on the same reals: msgan's embedded digits
(1797 images, 8x8 upscaled bicubically to the resolution, grey in three channels,
unconditional, not mirrored). Every ``--every`` kimg each writes ``--samples`` images of G_ema
(constant noise, psi 1) for one fixed set of latents.

Variants (``--variants``):
- ``msgan``: msgan's ``StyleGAN2Phases`` (bench_stylegan2's msgan worker);
- ``reference``: SG2A's own ``training/`` code (bench_stylegan2's reference worker);
- ``reference_r1aug``: SG2A with msgan's one remaining loss deviation: R1 taken with respect to
  the augmented reals instead of through the augment pipe to the reals (msgan/augment/ada.py
  says why msgan does it), so its effect is measured inside the reference.

Then KID between the reals and each checkpoint's samples, in the features of msgan's
classifier extractor trained once on the reals with their digit labels (seed 0): per variant the
mean over seeds and the seed range. msgan is "within" at a kimg where its mean lies inside the
reference's seed range. Each (variant, seed) runs in its own process, ``--jobs`` at a time
(``--threads`` each), and leaves OUT/<variant>_s<seed>.npz; those already there are reused, so
an interrupted run continues. Not timed: the load does not change these figures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

VARIANTS = ("msgan", "reference", "reference_r1aug")


def digits(resolution: int) -> tuple:
    """uint8 (1797, 3, R, R) digits and their labels."""
    from PIL import Image
    from msgan.data.digits import load_digits
    images, labels = load_digits()
    big = np.stack([np.asarray(Image.fromarray(im).resize((resolution, resolution),
                                                           Image.BICUBIC)) for im in images])
    return np.ascontiguousarray(np.repeat(big[:, None], 3, axis=1)), labels


def latents(n: int, z_dim: int) -> np.ndarray:
    return np.random.default_rng(123).standard_normal((n, z_dim)).astype(np.float32)


def to_uint8(x: np.ndarray) -> np.ndarray:
    # SG2A's own conversion (x * 127.5 + 128), for both sides alike; msgan's
    # samplers.to_uint8 maps -1..1 half a level lower, which the RESULTS figures did not use
    return np.clip(np.rint(x * 127.5 + 128), 0, 255).astype(np.uint8)


# -- one training run -----------------------------------------------------------------------------
def _msgan(a, images, seed):
    from benchmarks.bench_stylegan2 import MsganWorker
    import mindspore as ms
    from mindspore import Tensor
    w = MsganWorker(a, images=images, seed=seed)
    z = latents(a.samples, a.w_dim)

    def sample():
        parts = (z[i:i + 100] for i in range(0, len(z), 100))
        out = [w.ph.sample(Tensor(p), Tensor(np.zeros(len(p), np.int32)),
                           Tensor(1.0, ms.float32)).asnumpy() for p in parts]
        return to_uint8(np.concatenate(out))

    return w, sample, lambda: float(w.ph.ada.p)


def _reference(a, images, seed, r1aug):
    from benchmarks.bench_stylegan2 import ReferenceWorker
    w = ReferenceWorker(a, images=images, seed=seed, r1_on_augmented=r1aug)
    torch = w.torch
    z = torch.from_numpy(latents(a.samples, a.w_dim))

    def sample():
        with torch.no_grad():
            c = torch.zeros([len(z), 0])
            return to_uint8(w.G_ema(z, c, noise_mode="const").numpy())

    return w, sample, lambda: float(w.aug.p)


def train_one(a, variant: str, seed: int, path: str) -> None:
    images, _ = digits(a.resolution)
    if variant == "msgan":
        w, sample, ada_p = _msgan(a, images, seed)
    else:
        w, sample, ada_p = _reference(a, images, seed, variant == "reference_r1aug")
    marks = np.round(np.arange(a.every, a.kimg + 1e-9, a.every), 6)
    out = {"kimg": [], "ada_p": [], "seconds": []}
    samples = []
    t0 = time.time()
    it = 0
    for mark in marks:
        while (it + 1) * a.batch <= mark * 1000 + 1e-6:
            w._iteration(False) if variant == "msgan" else w._iteration()
            it += 1
        samples.append(sample())
        out["kimg"].append(it * a.batch / 1000)
        out["ada_p"].append(ada_p())
        out["seconds"].append(time.time() - t0)
        print(f"  [{variant} seed {seed}] {out['kimg'][-1]:.2f} kimg, p {out['ada_p'][-1]:.3f}, "
              f"{out['seconds'][-1]:.0f} s", file=sys.stderr, flush=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, samples=np.stack(samples), **{k: np.array(v) for k, v in out.items()})
    os.replace(tmp, path)


# -- driver ---------------------------------------------------------------------------------------
def kid_table(a, runs: dict) -> list:
    """Rows of (kimg, {variant: [KID per seed]})."""
    from msgan.metrics.evaluate import score_images
    from msgan.metrics.extractor import ClassifierExtractor
    images, labels = digits(a.resolution)
    ex = ClassifierExtractor(images, labels, 10, epochs=30, seed=0)
    print(f"extractor: {json.dumps({k: v for k, v in ex.info.items() if k != 'note'})}")
    per = {}
    for (variant, seed), data in sorted(runs.items()):
        for i, kimg in enumerate(data["kimg"]):
            f = ex.features(data["samples"][i])
            kid = score_images(ex.real_features, f, kid_subset_size=min(1000, len(f)),
                               seed=0)["kid"]
            per.setdefault(round(float(kimg), 3), {}).setdefault(variant, []).append(kid)
    return sorted(per.items())


def _fmt(v):
    if not v:
        return "–"
    return f"{np.mean(v):.4g} ({min(v):.4g}..{max(v):.4g})" if len(v) > 1 else f"{v[0]:.4g}"


def main(argv=None):
    from benchmarks.bench_stylegan2 import _reference_problem
    from benchmarks.options import add_thread_args
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="", help="checkout of NVlabs/stylegan2-ada-pytorch")
    ap.add_argument("--out", required=True)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--kimg", type=float, default=8.0)
    ap.add_argument("--every", type=float, default=2.0)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--resolution", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channel-base", type=int, default=2048)
    ap.add_argument("--channel-max", type=int, default=128)
    ap.add_argument("--w-dim", type=int, default=128, help="z_dim = w_dim")
    ap.add_argument("--jobs", type=int, default=2, help="training processes at a time")
    ap.add_argument("--table-only", action="store_true",
                    help="train nothing: the table of the runs already in OUT")
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    add_thread_args(ap)
    a = ap.parse_args(argv)
    # the bench_stylegan2 workers read these
    a.augment, a.jit_level = "ada", "O0"
    if a.worker:          # the workers set up their framework (device, threads) themselves
        return train_one(a, a.worker, a.seed, os.path.join(a.out, f"{a.worker}_s{a.seed}.npz"))

    os.makedirs(a.out, exist_ok=True)
    variants = [v for v in a.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        sys.exit(f"unknown variant(s) {', '.join(unknown)} — choose from {', '.join(VARIANTS)}")
    problem = _reference_problem(a.reference)
    if problem:
        print(f"reference: skipped — {problem}", flush=True)
        variants = [v for v in variants if not v.startswith("reference")]
    seeds = [int(s) for s in a.seeds.split(",") if s]
    print(f"StyleGAN2-ADA quality per kimg: digits at {a.resolution}², batch {a.batch}, "
          f"{a.channel_base}/{a.channel_max}, z=w={a.w_dim}, {a.kimg} kimg, samples every "
          f"{a.every} kimg; seeds {seeds}; {a.jobs} jobs x {a.threads or 'default'} threads; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    wargv = [f"--out={a.out}", f"--kimg={a.kimg}", f"--every={a.every}",
             f"--samples={a.samples}", f"--resolution={a.resolution}", f"--batch={a.batch}",
             f"--channel-base={a.channel_base}", f"--channel-max={a.channel_max}",
             f"--w-dim={a.w_dim}", f"--reference={a.reference}"]
    if a.threads:
        wargv.append(f"--threads={a.threads}")
    todo = [(v, s) for s in seeds for v in variants
            if not a.table_only and not os.path.isfile(os.path.join(a.out, f"{v}_s{s}.npz"))]
    running = []
    while todo or running:
        while todo and len(running) < a.jobs:
            v, s = todo.pop(0)
            cmd = [sys.executable, "-m", "benchmarks.bench_sg2_quality", "--worker", v,
                   f"--seed={s}", *wargv]
            running.append(((v, s), subprocess.Popen(cmd)))
        time.sleep(2)
        for job in [j for j in running if j[1].poll() is not None]:
            running.remove(job)
            if job[1].returncode:
                print(f"{job[0][0]} seed {job[0][1]}: exited {job[1].returncode}", flush=True)
    runs = {}
    for v in variants:
        for s in seeds:
            path = os.path.join(a.out, f"{v}_s{s}.npz")
            if os.path.isfile(path):
                with np.load(path) as f:
                    runs[(v, s)] = {k: f[k] for k in f.files}
    print(f"load at the end {os.getloadavg()[0]:.2f}")
    rows = kid_table(a, runs)
    print("\nKID vs the reals (mean over seeds, seed range)")
    print("| kimg | " + " | ".join(variants) + " | msgan within the reference's range |")
    print("|---" * (len(variants) + 2) + "|")
    for kimg, by in rows:
        ref = by.get("reference", [])
        within = ("–" if "msgan" not in by or len(ref) < 2
                  else "yes" if min(ref) <= np.mean(by["msgan"]) <= max(ref) else "no")
        print(f"| {kimg:g} | " + " | ".join(_fmt(by.get(v, [])) for v in variants)
              + f" | {within} |")
    print("\nper seed (" + ", ".join(str(s) for s in seeds) + ")")
    for kimg, by in rows:
        print(f"  {kimg:g} kimg: " + "; ".join(
            f"{v} " + " ".join(f"{x:.3g}" for x in by.get(v, [])) for v in variants))
    for v in variants:
        ps = [f"{runs[(v, s)]['ada_p'][-1]:.3f}" for s in seeds if (v, s) in runs]
        secs = [f"{runs[(v, s)]['seconds'][-1]:.0f}" for s in seeds if (v, s) in runs]
        print(f"{v}: final ADA p {', '.join(ps)}; seconds {', '.join(secs)}")


if __name__ == "__main__":
    main()
