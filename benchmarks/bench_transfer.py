"""Does starting from a pretrained model help on a small imbalanced class folder? Equal kimg.

    python -m benchmarks.bench_transfer --set digits-imbalanced --stage pretrain \
        --pretrain-kimg 100 --out /tmp/bench_transfer
    python -m benchmarks.bench_transfer --set digits-imbalanced --stage scratch,finetune \
        --seeds 0,1 --kimg 60 --out /tmp/bench_transfer
    python -m benchmarks.bench_transfer --set digits-imbalanced --stage report --out /tmp/bench_transfer

The small class folder and its held-out reals are bench_quality's (same builder, same RNG), and
every arm trains ``configs/dcgan.yaml`` (``--config``: another YAML, the same for the pretraining
run and both arms) with only data.path, data.resolution and data.channels set, as
bench_quality's ``default`` rows do, and is judged by bench_quality's ``evaluate``
(recognised-vs-real, augmentation benefit over the reals as they are and over each class's reals
repeated up to the largest class's count, per class).

- ``pretrain``: an unconditional msgan run (the same config, its images in one flat folder) on a
  larger related set that holds none of the small folder's training reals and none of its
  held-out reals: for ``digits-imbalanced``, every digit of msgan's embedded set (1797) that
  bench_quality's split put neither in training (100 per class for 0-4, 15 for 5-9) nor in the
  held-out part (40 per class), labels dropped — 822 images, mostly 5-9 (119-127 each; 0-4 have
  37-43 left), the classes that are small in the folder; any leftover whose 8x8 pixels equal a
  training or held-out image is dropped too. For ``crops6-tiles``: 2040 grey 24-px crops of
  twelve other photographs (CROPS_PRETRAIN), none of the six the classes are cut from.
- ``scratch``: the class folder from random weights; ``finetune``: the same with
  ``train.init_from=<the pretrain run>`` (G, D, G_ema loaded, class embedding new, fresh
  optimizers, kimg from 0), ``--freeze-d N`` adds ``model.freeze_d=N``. Same seeds, same kimg;
  snapshots (scored with KID) every ``--snapshot-kimg`` (default ``--kimg / 10``).
- ``report``: per run the KID of every snapshot (stats.jsonl), the kimg at which the fine-tuned
  run of a seed first reaches (<=) the scratch run's final KID of the same seed (both are scored
  in the same extractor: the run's classifier of these reals, seeded by the run seed), and the
  judged figures; then a markdown table.
Results go to OUT/transfer.jsonl (one line per judged run).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from benchmarks import bench_quality as bq

# crops6-tiles' photographs (brick, grass, gravel, moon, camera, coins) are not among these: its
# pretraining set is other photographs bundled with scikit-image (synthetic images, the 102-px
# microaneurysms and motorcycle_right, motorcycle_left's twin, left out), 24-px crops as the
# target's, grey, unlabelled — a generic set of photo crops, as an ImageNet- or FFHQ-trained
# source is to a user's own classes
CROPS_PRETRAIN = ("astronaut", "cell", "chelsea", "clock_motion", "coffee", "hubble_deep_field",
                  "ihc", "motorcycle_left", "page", "retina", "rocket", "text")
CROPS_PER_PHOTO = 170


def _digits_pretrain() -> tuple:
    """The digits neither in the class folder nor held out: (images (N, 32, 32, 1), ids)."""
    from msgan.data.digits import load_digits
    images = load_digits()[0]
    split = bq.digits_split(bq.DIGITS_IMBALANCED, bq.DIGITS_HELD, np.random.default_rng(0))
    used = np.concatenate([np.concatenate([tr, te]) for tr, te, _ in split.values()])
    rest = np.sort(np.concatenate([r for _, _, r in split.values()]))
    assert not set(used.tolist()) & set(rest.tolist())
    seen = {images[i].tobytes() for i in used}
    keep = [i for i in rest if images[i].tobytes() not in seen]
    return bq.digits_32(images[keep]), keep


def _crops_pretrain() -> tuple:
    """CROPS_PER_PHOTO crops of every CROPS_PRETRAIN photograph: (images (N, 32, 32, 1), ids)."""
    rng = np.random.default_rng(1)
    out = []
    for photo in CROPS_PRETRAIN:
        img = bq.photo(photo, 1)
        h, w = img.shape[:2]
        out.append(bq.random_crops(img, CROPS_PER_PHOTO, 24, (0, h, 0, w), 1, rng))
    images = np.concatenate(out)
    return images, range(len(images))


PRETRAIN_SETS = {"digits-imbalanced": _digits_pretrain, "crops6-tiles": _crops_pretrain}


def build_pretrain_set(name: str, root: str) -> tuple:
    """Write OUT/sets/<name>-pretrain/*.png (one flat folder: unconditional) once, beside the
    class folder it must not overlap. Returns (folder, channels, number of images)."""
    if name not in PRETRAIN_SETS:
        raise SystemExit(f"no pretraining set defined for {name} (have: "
                         f"{', '.join(PRETRAIN_SETS)})")
    bq.build_set(name, root)
    images, ids = PRETRAIN_SETS[name]()
    folder = os.path.join(root, "sets", f"{name}-pretrain")
    if not os.path.isdir(folder):
        os.makedirs(folder)
        from PIL import Image
        for i, img in zip(ids, images):
            Image.fromarray(img.squeeze(), "L").save(os.path.join(folder, f"{i:04d}.png"))
    return folder, 1, len(images)


def run_dir(out: str, set_name: str, arm: str, seed: int, kimg: float = None) -> str:
    """OUT/runs/SET-ARM[-KIMGkimg]-SEED: arms of one seed at two lengths get folders of their own."""
    length = "" if kimg is None else f"-{kimg:g}kimg"
    return os.path.join(out, "runs", f"{set_name}-{arm}{length}-{seed}")


def stats_rows(run: str) -> list:
    """The rows of a run's stats.jsonl (one per tick, snapshot scores in theirs)."""
    with open(os.path.join(run, "stats.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def train_seconds(run: str) -> float:
    """The training seconds a finished run's stats.jsonl records (its largest total_sec)."""
    if not os.path.isfile(os.path.join(run, "output_0.manifest")) or not os.path.isfile(
            os.path.join(run, "stats.jsonl")):
        raise SystemExit(f"{run} has not finished training: nothing to judge")
    return max(r.get("total_sec", 0.0) for r in stats_rows(run))


def kid_curve(run: str) -> list:
    """[(kimg, kid)] of the run's scored snapshots, from its stats.jsonl."""
    return [(float(r["kimg"]), float(r["kid"])) for r in stats_rows(run)
            if r.get("kid") is not None]


def class_kid_curve(run: str) -> list:
    """[(kimg, mean over classes of the per-class KID)]: the overall KID mixes the classes, so a
    G that draws good digits of the wrong class still scores well on it."""
    rows = []
    for r in stats_rows(run):
        vals = [v for v in (r.get("kid_per_class") or {}).values() if v is not None]
        if vals:
            rows.append((float(r["kimg"]), float(np.mean(vals))))
    return rows


def kimg_to_reach(curve: list, target: float):
    """First kimg at which ``curve`` is at or below ``target`` (None: never)."""
    return next((k for k, v in curve if v <= target), None)


def main():
    from msgan.ops import onednn
    onednn.cap_cpu_isa()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="digits-imbalanced")
    ap.add_argument("--stage", default="pretrain",
                    help="comma list of pretrain, scratch, finetune, report")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--kimg", type=float, default=60.0, help="kimg of scratch and finetune")
    ap.add_argument("--snapshot-kimg", type=float, default=0.0,
                    help="kimg between scored snapshots of scratch and finetune (default --kimg / 10)")
    ap.add_argument("--pretrain-kimg", type=float, default=100.0)
    ap.add_argument("--pretrain-seed", type=int, default=0)
    ap.add_argument("--init-from", default="",
                    help="what finetune starts from (default: OUT/runs/SET-pretrain-SEED)")
    ap.add_argument("--freeze-d", type=int, default=0)
    ap.add_argument("--config", default=os.path.join(bq.ROOT, "configs", "dcgan.yaml"),
                    help="the YAML of the pretraining run and both arms (e.g. "
                         "configs/stylegan2.yaml, on a device)")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--gain-seeds", default="0,1,2,3,4")
    ap.add_argument("--judge-only", action="store_true",
                    help="judge the arms' finished runs again (other --gain-seeds) without training")
    ap.add_argument("--out", default="/tmp/bench_transfer")
    a = ap.parse_args()
    config = os.path.abspath(a.config)
    os.makedirs(a.out, exist_ok=True)
    stages = a.stage.split(",")
    results = os.path.join(a.out, "transfer.jsonl")
    pre_dir = run_dir(a.out, a.set, "pretrain", a.pretrain_seed)
    if "pretrain" in stages:
        folder, ch, n = build_pretrain_set(a.set, a.out)
        print(f"pretraining on {folder}: {n} images", flush=True)
        load = os.getloadavg()[0]
        sec = bq.train_run(folder, ch, "default", a.pretrain_seed, a.pretrain_kimg, 64, pre_dir,
                           extra=[f"train.snapshot_kimg={a.pretrain_kimg / 10:g}"],
                           config=config)
        print(json.dumps({"pretrain": pre_dir, "images": n, "kimg": a.pretrain_kimg,
                          "train_sec": round(sec, 1), "load_1min": round(load, 2)}), flush=True)
    train_dir, test_dir, ch = bq.build_set(a.set, a.out)
    gain_seeds = tuple(int(s) for s in a.gain_seeds.split(","))
    for seed in [int(s) for s in a.seeds.split(",")]:
        for arm in [s for s in stages if s in ("scratch", "finetune")]:
            extra = [f"train.snapshot_kimg={a.snapshot_kimg or a.kimg / 10:g}"]
            name = arm
            info = {}
            if arm == "finetune":
                src = a.init_from or pre_dir
                extra.append(f"train.init_from={src}")
                info["init_from"] = src
                if a.freeze_d:
                    extra.append(f"model.freeze_d={a.freeze_d}")
                    name = f"finetune_freezed{a.freeze_d}"
                    info["freeze_d"] = a.freeze_d
            out = run_dir(a.out, a.set, name, seed, a.kimg)
            load = os.getloadavg()[0]
            if a.judge_only:
                sec = train_seconds(out)
            else:
                sec = bq.train_run(train_dir, ch, "default", seed, a.kimg, a.per_class, out,
                                   extra=extra, config=config)
            res = bq.evaluate(train_dir, test_dir, os.path.join(out, "Data"), ch, gain_seeds)
            row = {"set": a.set, "arm": name, "seed": seed, "kimg": a.kimg,
                   "config": os.path.basename(config), **info,
                   "run": out, "train_sec": round(sec, 1), "load_1min_at_start": round(load, 2),
                   "load_1min_at_end": round(os.getloadavg()[0], 2),
                   "kid_curve": kid_curve(out), **res}
            with open(results, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(bq._line({**row, "variant": name}), flush=True)
    if "report" in stages:
        report(results)


def class_spreads(train_dir: str, gen_dir: str, channels: int) -> dict:
    """class -> generated spread over its training reals' (msgan.metrics.diversity; < 0.5:
    G makes one look for the class), for rows judged before evaluate reported it."""
    from msgan.metrics import diversity
    from msgan.metrics.features import load_folder
    train = load_folder(train_dir, 32, channels, "real")
    gen = load_folder(gen_dir, 32, channels, "generated")
    return {c: diversity.ratio_to(diversity.spread(train.of_class(c)), gen.of_class(c))
            if c in gen.classes else None for c in train.classes}


def _run_key(run: str, sets: set):
    """(set, seed, total_kimg) of a run folder named by run_dir (None: not one of ``sets``)."""
    import yaml
    name = os.path.basename(run)
    set_name = max((n for n in sets if name.startswith(n + "-")), key=len, default=None)
    if set_name is None:
        return None
    with open(os.path.join(run, "config.yaml"), encoding="utf-8") as f:
        kimg = float(yaml.safe_load(f)["train"]["total_kimg"])
    return set_name, int(name.rsplit("-", 1)[1]), kimg


def on_common_seeds(rows: list) -> None:
    """Rows of one set judged with different classifier seeds (--gain-seeds) are compared on
    the seeds they share: their gains are replaced by the mean over those (per-seed lists kept)."""
    for set_name in {r["set"] for r in rows}:
        mine = [r for r in rows if r["set"] == set_name]
        common = sorted(set.intersection(*(set(r["gain_seeds"]) for r in mine)))
        if not common:
            continue
        for r in mine:
            pick = [r["gain_seeds"].index(s) for s in common]
            for key in ("gain", "gain_over_rebalanced"):
                per = [r[f"{key}_per_seed"][i] for i in pick]
                r[f"{key}_per_seed"], r[f"{key}_points"] = per, float(np.mean(per))
            r["gain_seeds"] = common


def report(results: str) -> None:
    rows = [json.loads(l) for l in open(results, encoding="utf-8")]
    for r in rows:
        if any("spread" not in v for v in r["per_class"].values()):
            train_dir = os.path.join(os.path.dirname(results), "sets", r["set"], "train")
            ch = 3 if r["set"].startswith(("colour", "photos")) else 1
            for c, v in class_spreads(train_dir, os.path.join(r["run"], "Data"), ch).items():
                r["per_class"][c]["spread"] = v
    for r in rows:
        r["class_kid_curve"] = class_kid_curve(r["run"])
    on_common_seeds(rows)
    final = {(r["set"], r["seed"], r["kimg"]): (r["kid_curve"][-1][1],
                                                r["class_kid_curve"][-1][1]) for r in rows
             if r["arm"] == "scratch" and r["kid_curve"]}
    print("classifier seeds of the gains: " + "; ".join(
        f"{n} {sorted({tuple(r['gain_seeds']) for r in rows if r['set'] == n})}"
        for n in sorted({r["set"] for r in rows})))
    print("| set | arm | seed | kimg | final KID | kimg to scratch's final KID | final per-class "
          "KID (mean) | kimg to scratch's | recognised (÷ same classes) | worst class (÷ its "
          "reals) | gain over reals (± s.e.) | gain over repeated reals (± s.e.) | train s | "
          "load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        target = final.get((r["set"], r["seed"], r["kimg"]))
        reach = kimg_to_reach(r["kid_curve"], target[0]) if target else None
        reach_c = kimg_to_reach(r["class_kid_curve"], target[1]) if target else None
        worst = min(r["per_class"], key=lambda c: r["per_class"][c]["recognised"] or 9)
        def when(k):        # "—": no scratch run of this set, seed and length to reach
            return "—" if target is None else "never" if k is None else f"{k:g}"
        print(f"| {r['set']} | {r['arm']} | {r['seed']} | {r['kimg']:g} | "
              f"{r['kid_curve'][-1][1]:.4f} | {when(reach)} | "
              f"{r['class_kid_curve'][-1][1]:.4f} | {when(reach_c)} | "
              f"{r['recognised']:.3f} ({r['recognised_ratio_same_classes']:.2f}) | "
              f"{worst} {r['min_class_recognised']:.2f} ({r['min_class_ratio']:.2f}) | "
              f"{r['gain_points']:+.1f} ± {bq._spread(r):.1f} | "
              f"{r['gain_over_rebalanced_points']:+.1f} ± "
              f"{bq._spread(r, 'gain_over_rebalanced'):.1f} | {r['train_sec']:.0f} | "
              f"{r['load_1min_at_start']}-{r['load_1min_at_end']} |")
    # runs trained but not judged (stopped during the judge) still have their KID curves
    runs_dir = os.path.join(os.path.dirname(results), "runs")
    judged = {os.path.abspath(r["run"]) for r in rows}
    # (a report of rows gathered from several OUTs has no runs/ beside them)
    names = sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []
    unjudged = [os.path.join(runs_dir, d) for d in names
                if os.path.abspath(os.path.join(runs_dir, d)) not in judged
                and "-pretrain-" not in d and os.path.isfile(os.path.join(runs_dir, d,
                                                                          "stats.jsonl"))]
    print("\nKID per snapshot (kimg: KID / mean per-class KID)")
    for run in unjudged:
        curve, per = kid_curve(run), dict(class_kid_curve(run))
        if not curve:
            continue
        target = final.get(_run_key(run, {r["set"] for r in rows}))
        reach = (f"; reaches scratch's final KID at {kimg_to_reach(curve, target[0])} kimg, its "
                 f"per-class KID at {kimg_to_reach(list(per.items()), target[1])}"
                 if target else "")
        print(f"- {os.path.basename(run)} (not judged{reach}): " + ", ".join(
            f"{k:g}: {v:.4f}/{per.get(k, float('nan')):.4f}" for k, v in curve))
    for r in rows:
        per = dict(r["class_kid_curve"])
        print(f"- {r['set']} {r['arm']} seed {r['seed']} ({r['kimg']:g} kimg): " + ", ".join(
            f"{k:g}: {v:.4f}/{per.get(k, float('nan')):.4f}" for k, v in r["kid_curve"]))
    print("\nper class (classes that got images): recognised / spread (generated over its "
          "reals) / gain over repeated reals, points")
    for r in rows:
        cells = [f"{c} {v['recognised']:.2f}/{v['spread']:.2f}/{100 * v['gain_over_rebalanced']:+.1f}"
                 for c, v in r["per_class"].items() if v.get("recognised") is not None
                 and v.get("spread") is not None]
        print(f"- {r['set']} {r['arm']} seed {r['seed']}: " + ", ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
