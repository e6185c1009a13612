"""How far can an unconditional source be steered to a target's classes before fine-tuning?

    python -m benchmarks.probe_class_shift SOURCE TRAIN_DIR HELD_OUT_DIR [--channels 1]

A fine-tune from an unconditional source starts with every class drawing the source's mix
(train.init_from: class embedding columns zero), and bench_transfer found that its class path
is what it learns slowest. This probe measures the simplest warm start that would keep G's
function linear in its input (so it could be written into G's first layer): class c drawn as
G(z + alpha * mu_c), mu_c the mean of the source latents that a classifier trained on the
target's *training* reals puts in class c (weighted by its probability). A judge trained on the
held-out reals says how often the shifted images are class c, per alpha. Prints the source's
class mix (judge) and the per-class accuracy per alpha; no training of the GAN.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from scipy.special import softmax


def main():
    from msgan.inference.generate import load_sampler
    from msgan.inference.latents import sample_z
    from msgan.metrics import classifier as clf
    from msgan.metrics.features import load_folder
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source")
    ap.add_argument("train_dir")
    ap.add_argument("held_out_dir")
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--n", type=int, default=4096, help="source latents drawn to find mu_c")
    ap.add_argument("--alphas", default="0,1,2,3,4,6")
    a = ap.parse_args()
    print(f"load (1 min): {os.getloadavg()[0]:.2f}")
    sampler = load_sampler(a.source)
    z_dim, z_dist = int(sampler.meta["z_dim"]), sampler.meta.get("z_dist", "gaussian")
    train = load_folder(a.train_dir, 32, a.channels, "real")
    held = load_folder(a.held_out_dir, 32, a.channels, "held-out")
    k = len(train.classes)
    opts = dict(epochs=30, mirror=False, decay=True, balanced=True)
    judge = clf.train_classifier(held.images, held.labels, k, seed=0, **opts)
    own = clf.train_classifier(train.images, train.labels, k, seed=1, **opts)
    rng = np.random.default_rng(0)
    z = sample_z(rng, a.n, z_dim, z_dist)
    images = sampler(z)
    p = softmax(own.infer(images)[1], axis=1)
    mix = np.bincount(clf.predict(judge, images), minlength=k) / a.n
    print("source's class mix (judge): " + ", ".join(
        f"{c} {m:.2f}" for c, m in zip(train.classes, mix)))
    mu = np.stack([(p[:, c:c + 1] * z).sum(0) / p[:, c].sum() for c in range(k)])
    print("|mu_c|: " + ", ".join(f"{c} {v:.2f}" for c, v in zip(train.classes,
                                                             np.linalg.norm(mu, axis=1))))
    z2 = sample_z(rng, 200, z_dim, z_dist)
    for alpha in (float(s) for s in a.alphas.split(",")):
        acc = [float((clf.predict(judge, sampler(z2 + alpha * mu[c])) == c).mean())
               for c in range(k)]
        print(f"alpha {alpha:g}: judged class c, per class: " + ", ".join(
            f"{c} {v:.2f}" for c, v in zip(train.classes, acc)) + f"; mean {np.mean(acc):.3f}")


if __name__ == "__main__":
    main()
