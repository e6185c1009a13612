"""Generation throughput: images/s from a checkpoint, its MindIR export and its ONNX export.

    python -m benchmarks.bench_generate --resolution 64 --batch 32
    python -m benchmarks.bench_generate --resolution 256 --batch 1 --images 8

A DCGAN generator (random weights: speed does not depend on training) is written as a snapshot
(G_ema.ckpt + meta.json) and exported with msgan's own export_generator, so all three samplers
are the ones `msgan generate` uses. Each round times `sampler(z, c, psi)` for the same latents on
every backend in turn (alternating, so load from other jobs hits all alike); the report is the
median images/s per backend and its ratio to the checkpoint sampler measured in the same run.
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import mindspore as ms

from msgan.config import to_dict
from msgan.inference.export import export_generator
from msgan.inference.latents import z_from_seeds
from msgan.inference.samplers import CheckpointSampler, MindIRSampler, OnnxSampler
from msgan.io import write_json
from msgan.models import MODELS, dcgan


def make_model(folder: str, resolution: int, batch: int, width: int, classes: int):
    cfg = MODELS["dcgan"].config(z_dim=100, ngf=width, ndf=width)
    G, _ = dcgan.build(cfg, resolution, 3, classes)
    meta = {"model": "dcgan", "model_cfg": to_dict(cfg), "z_dim": cfg.z_dim,
            "z_dist": cfg.z_dist, "num_classes": classes,
            "classes": [str(k) for k in range(classes)], "resolution": resolution,
            "channels": 3, "batch": batch, "inputs": ["z", "c"] if classes else ["z"],
            "kimg": 0.0}
    ms.save_checkpoint(G, os.path.join(folder, "G_ema.ckpt"))
    write_json(os.path.join(folder, "meta.json"), meta)
    result = export_generator(dcgan.export_net(G), meta, os.path.join(folder, "G_ema"))
    bad = [fmt for fmt, r in result.items() if not r["ok"]]
    if bad:
        raise SystemExit(f"export failed for {bad}: {result}")
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32, help="export batch (images per call)")
    ap.add_argument("--images", type=int, default=64, help="images per timed call")
    ap.add_argument("--width", type=int, default=64, help="ngf")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    with tempfile.TemporaryDirectory() as folder:
        meta = make_model(folder, a.resolution, a.batch, a.width, a.classes)
        samplers = {"checkpoint": CheckpointSampler(folder),
                    "mindir": MindIRSampler(os.path.join(folder, "G_ema.mindir")),
                    "onnx": OnnxSampler(os.path.join(folder, "G_ema.onnx"))}
        z = z_from_seeds(range(a.images), meta["z_dim"], meta["z_dist"])   # as msgan generate
        c = (np.arange(a.images) % max(a.classes, 1)).astype(np.int32)
        outputs = {name: s(z, c, 1.0) for name, s in samplers.items()}   # warm-up / compile
        for name, out in outputs.items():
            diff = np.abs(out.astype(int) - outputs["checkpoint"].astype(int)).max()
            print(f"{name}: max uint8 difference from checkpoint images {diff}")
        rates = {name: [] for name in samplers}
        for _ in range(a.rounds):
            for name, s in samplers.items():
                t = time.perf_counter()
                s(z, c, 1.0)
                rates[name].append(a.images / (time.perf_counter() - t))
    ref = statistics.median(rates["checkpoint"])
    print(f"DCGAN {a.resolution}², ngf {a.width}, export batch {a.batch}, {a.images} images per "
          f"call, median of {a.rounds} rounds:")
    for name, r in rates.items():
        med = statistics.median(r)
        print(f"  {name:10s} {med:9.1f} img/s   {med / ref:5.2f}x checkpoint")


if __name__ == "__main__":
    main()
