"""Parity: msgan convert's networks against stylegan2-ada-pytorch (SG2A) itself, number for number.

For each case SG2A's own code (a checkout given with --reference, run by a Python with torch:
--torch-python) builds G, D and G_ema with random weights, pickles them as its training loop
writes network-snapshot-*.pkl and computes generate.py's 8-bit images (--noise-mode const) for
--seeds x classes x --psis, and D's logits for a batch. msgan then converts the pickle (no torch,
no code from the pickle) and computes the same with msgan generate's sampler. Printed per case:
the largest grey-level difference (the target: <= 1), the share of differing pixels and D's
largest relative logit difference (the target: <= 1e-3).

  python -m benchmarks.compare_sg2a --reference /path/to/stylegan2-ada-pytorch \
      --torch-python /path/to/torch-venv/bin/python --cases 32,256 --seeds 0-7
  python -m benchmarks.compare_sg2a ... --cases 32 --conditional 0 --tf     # TF-era pickles
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# SG2A's train.py widths ("full widths"): channel_base 16384 below 512², channel_max 512,
# conv_clamp 256; num_fp16_res 0 on both sides (msgan runs fp32).
CASES = {
    "32": dict(resolution=32, map=2),
    "256": dict(resolution=256, map=8),
}


def seeds(text: str) -> list:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def reference(args, case: dict, c_dim: int, work: str) -> tuple[str, str]:
    pkl = os.path.join(work, f"network-snapshot-{case['resolution']}-c{c_dim}.pkl")
    npz = os.path.join(work, f"expected-{case['resolution']}-c{c_dim}.npz")
    classes = ",".join(str(c) for c in range(0, c_dim, max(1, c_dim // 3))) if c_dim else ""
    cmd = [args.torch_python, os.path.join(ROOT, "benchmarks", "sg2a_reference.py"),
           "--reference", args.reference, "--out", pkl, "--expected", npz,
           "--resolution", str(case["resolution"]), "--map", str(case["map"]),
           "--c-dim", str(c_dim), "--classes", classes, "--channel-base", "16384",
           "--channel-max", "512", "--conv-clamp", "256", "--fp16-res", "0",
           "--seeds", ",".join(map(str, seeds(args.seeds))), "--psis", args.psis,
           # TF's D groups 4 samples for mbstd, legacy.py's the whole batch: a batch of 4 is
           # the same group for both
           "--d-batch", "4" if args.tf else "8"] + (["--tf"] if args.tf else [])
    subprocess.run(cmd, check=True)
    return pkl, npz


def msgan_side(pkl: str, npz: str, out: str) -> dict:
    import mindspore as ms
    from msgan.convert import convert
    from msgan.inference.generate import load_sampler
    from msgan.inference.latents import z_from_seeds
    from msgan.models import MODELS

    t0 = time.time()
    meta = convert(pkl, out)
    t_convert = time.time() - t0
    exp = np.load(npz)
    sampler = load_sampler(out)
    worst, differ, total, n = 0, 0, 0, 0
    groups = {}       # (class, psi) -> [(seed, key)]: one sampler call per group
    for key in [k for k in exp.files if k.startswith("img_")]:
        _, seed, cls, psi = key.split("_")
        groups.setdefault((max(int(cls), 0), float(psi)), []).append((int(seed), key))
    for (cls, psi), items in groups.items():
        imgs = sampler(z_from_seeds([s for s, _ in items], meta["z_dim"]),
                       np.full(len(items), cls), psi).astype(int)
        for img, (_, key) in zip(imgs, items):
            d = np.abs(img - exp[key].astype(int))
            worst, differ, total, n = max(worst, int(d.max())), differ + int((d > 0).sum()), \
                total + d.size, n + 1
    spec = MODELS["stylegan2"]
    _, D = spec.build(spec.config(**meta["model_cfg"]), meta["resolution"], meta["channels"],
                      meta["num_classes"])
    saved = ms.load_checkpoint(os.path.join(out, "D.ckpt"))
    for p in D.get_parameters():
        p.set_data(ms.Tensor(saved[p.name].asnumpy()))
    D.set_train(False)
    logits = D(ms.Tensor(exp["d_img"]), ms.Tensor(exp["d_c"])).asnumpy()
    ref = exp["d_logits"]
    # relative to each logit, floored at 1% of the largest (a logit near 0 has no scale)
    rel = float(np.max(np.abs(logits - ref)
                       / np.maximum(np.abs(ref), 0.01 * np.abs(ref).max() + 1e-12)))
    return dict(images=n, max_grey=worst, differ=differ / max(total, 1), d_rel=rel,
                d_abs=float(np.max(np.abs(logits - ref))), convert_s=t_convert,
                notes=meta["source"]["notes"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="stylegan2-ada-pytorch checkout")
    p.add_argument("--torch-python", default=sys.executable,
                   help="a Python with torch, numpy, scipy (default: this one)")
    p.add_argument("--cases", default="32,256", help=f"resolutions among {', '.join(CASES)}")
    p.add_argument("--conditional", default="0,10", help="c_dim values to run (0 = uncond.)")
    p.add_argument("--seeds", default="0-5", help="e.g. 0-7 or 1,5,9")
    p.add_argument("--psis", default="1,0.7,0.5")
    p.add_argument("--work", default=None, help="keep pickles and folders here (default: temp)")
    p.add_argument("--tf", action="store_true", help="the TensorFlow-era pickle path: the "
                   "networks are written as a TF StyleGAN2 pickle and compared with what SG2A's "
                   "legacy.py reads from it (unconditional: legacy.py's conditional TF D has a "
                   "0-layer label mapping, which msgan refuses)")
    args = p.parse_args(argv)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    work = args.work or tempfile.mkdtemp(prefix="compare_sg2a-")
    os.makedirs(work, exist_ok=True)
    rows, ok = [], True
    for name in args.cases.split(","):
        for c_dim in [int(c) for c in args.conditional.split(",")]:
            pkl, npz = reference(args, CASES[name], c_dim, work)
            r = msgan_side(pkl, npz, os.path.join(work, f"model-{name}-c{c_dim}"))
            good = r["max_grey"] <= 1 and r["d_rel"] <= 1e-3
            ok &= good
            rows.append((name, c_dim, r, good))
            print(f"{name}x{name} c_dim={c_dim}: {r['images']} images, max |diff| "
                  f"{r['max_grey']} grey level(s), {100 * r['differ']:.3f}% of values differ; "
                  f"D logits max rel diff {r['d_rel']:.2e} (abs {r['d_abs']:.2e}); "
                  f"convert {r['convert_s']:.1f} s; {'OK' if good else 'FAILED'}", flush=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print("all within 1 grey level and 1e-3 relative" if ok else "SOME CASES FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
