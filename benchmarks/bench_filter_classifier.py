"""Which classifier recipe recognises the small classes of an imbalanced set? (generate.filter)

    python -m benchmarks.bench_filter_classifier --out /tmp/bench_quality --seeds 0,1

Trains msgan's small CNN on the training part of bench_quality's ``digits-imbalanced`` set
(classes 0-4: 100 images, 5-9: 15) with each recipe and prints its balanced accuracy and the
recall of the five small classes on the held-out part (40 images per class). The recipes:
``extractor`` is the KID extractor's (uniform batches, fixed rate, flips, 200 steps), which
generate.filter used until 2026-12-05; ``filter`` is ``train_filter_classifier`` (class-balanced
batches, learning rate decayed to 0, no flips, FILTER_STEPS steps).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

RECIPES = {   # name -> train_classifier keywords
    "extractor": dict(steps=200, balanced=False, decay=False, mirror=True),
    "uniform_1000": dict(steps=1000, balanced=False, decay=False, mirror=False),
    "balanced_1000": dict(steps=1000, balanced=True, decay=False, mirror=False),
    "balanced_1000_flips": dict(steps=1000, balanced=True, decay=False, mirror=True),
    "uniform_decay_500": dict(steps=500, balanced=False, decay=True, mirror=False),
    "balanced_decay_300": dict(steps=300, balanced=True, decay=True, mirror=False),
    "filter": None,           # train_filter_classifier as shipped
    "balanced_decay_1000": dict(steps=1000, balanced=True, decay=True, mirror=False),
}


def main():
    from msgan.ops import onednn
    onednn.cap_cpu_isa()
    from benchmarks.bench_quality import build_set
    from msgan.metrics import classifier as clf
    from msgan.metrics.class_filter import train_filter_classifier
    from msgan.metrics.features import load_folder
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/bench_quality")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    a = ap.parse_args()
    train_dir, test_dir, ch = build_set("digits-imbalanced", a.out)
    train = load_folder(train_dir, 32, ch, "real")
    test = load_folder(test_dir, 32, ch, "held-out")
    k = len(train.classes)
    small = np.bincount(train.labels, minlength=k) < np.bincount(train.labels, minlength=k).max()
    print(f"load {os.getloadavg()[0]:.2f}; small classes: "
          f"{[c for c, s in zip(train.classes, small) if s]}")
    print("| recipe | balanced accuracy (per seed) | small classes' recall (mean over seeds) | s |")
    print("|---|---|---|---|")
    for name in a.recipes.split(","):
        t0, bals, recalls = time.time(), [], []
        for seed in (int(s) for s in a.seeds.split(",")):
            if RECIPES[name] is None:
                model = train_filter_classifier(train.images, train.labels, k, seed, mirror=False)
            else:
                model = clf.train_classifier(train.images, train.labels, k, seed=seed,
                                             batch_size=32, **RECIPES[name])
            bal, per_class = clf.balanced_accuracy(test.labels, clf.predict(model, test.images), k)
            bals.append(bal)
            recalls.append(per_class[small])
        print(f"| {name} | {' / '.join(f'{b:.3f}' for b in bals)} | "
              f"{' '.join(f'{r:.2f}' for r in np.mean(recalls, axis=0))} | "
              f"{time.time() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
