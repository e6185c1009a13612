"""Training data above the preload limit: images/s and peak memory, streamed vs in memory.

    nice -n 19 python -m benchmarks.bench_data_stream                  # 2k and 20k images
    nice -n 19 python -m benchmarks.bench_data_stream --sizes 2000 20000 100000
    nice -n 19 python -m benchmarks.bench_data_stream --mindspore      # + mindspore.dataset

Synthetic 64² RGB PNGs (noise over a gradient, so they do not compress to nothing) are written to
a temporary folder once per size. Each configuration then runs in its own process, so its peak
RSS (ru_maxrss) is its own, through msgan's loading path:

- ``memory``: ``store.load_training_images`` under the preload limit (decode into RAM), then
  ``BatchSampler`` batches: the reference, as training ran before streaming existed;
- ``stream``: the same call with ``preload_limit=0``: decode once into the cache file, map it,
  the same sampler (it gives back the pages it read every ``pipeline.RELEASE_BYTES``);
- ``stream-reuse``: a second process over the built cache (a resumed run): no decoding;
- ``mindspore`` (``--mindspore``): ``mindspore.dataset.ImageFolderDataset`` with 2 decode
  workers, one epoch of shuffled, resized, batched images: the other option of issue 34, which
  decodes every image again each epoch and has its own shuffle order.

Printed per size: load images/s (decode, or the cache opened), batch images/s (sampler only,
after loading), peak RSS in MiB and the ratio of each to ``memory`` at the same size (or at the
largest size ``memory`` ran: it is skipped above ``--memory-max``), with ``uptime`` before and
after.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_folder(folder: str, n: int, res: int, classes: int = 10) -> None:
    from PIL import Image
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 160, res, dtype=np.float32)
    base = (ramp[None, :, None] + ramp[:, None, None] * 0.5).astype(np.float32)
    for k in range(classes):
        os.makedirs(os.path.join(folder, f"class{k}"), exist_ok=True)
    for i in range(n):
        noise = rng.integers(0, 64, (res, res, 3), dtype=np.uint8)
        img = np.clip(base + noise + (i % 7) * 8, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(folder, f"class{i % classes}", f"{i:06d}.png"),
                                  compress_level=1)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(a) -> dict:
    """One configuration in this process: what it prints is the parent's row."""
    start_rss = peak_rss_mib()
    if a.mode == "mindspore":
        return child_mindspore(a, start_rss)
    from msgan.data import store
    from msgan.data.folder import scan_folder
    from msgan.data.pipeline import BatchSampler
    image_set = scan_folder(a.folder)
    limit = 1 << 50 if a.mode == "memory" else 0
    t0 = time.perf_counter()
    loaded = store.load_training_images(image_set, a.resolution, 3, "crop", preload_limit=limit,
                                        cache_dir=a.cache_dir)
    load_s = time.perf_counter() - t0
    sampler = BatchSampler(loaded.images, loaded.labels, a.batch, seed=0, mirror=True,
                           balanced=True)
    n_batches = max(1, a.epochs * len(loaded.images) // a.batch)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        x, _ = next(sampler)
    batch_s = time.perf_counter() - t0
    return {"images": len(loaded.images), "load_s": load_s,
            "load_ips": len(loaded.images) / load_s, "batch_ips": n_batches * a.batch / batch_s,
            "batches": n_batches, "peak_rss_mib": peak_rss_mib(), "start_rss_mib": start_rss}


def child_mindspore(a, start_rss) -> dict:
    import mindspore.dataset as ds
    import mindspore.dataset.vision as vision
    after_import = peak_rss_mib()
    t0 = time.perf_counter()
    data = ds.ImageFolderDataset(a.folder, num_parallel_workers=2, shuffle=True)
    data = data.map([vision.Decode(), vision.Resize(a.resolution), vision.CenterCrop(a.resolution),
                     vision.HWC2CHW()], input_columns="image", num_parallel_workers=2)
    data = data.batch(a.batch, drop_remainder=False)
    n = 0
    for _ in range(a.epochs):
        for batch in data.create_tuple_iterator(output_numpy=True):
            n += len(batch[0])
    took = time.perf_counter() - t0
    return {"images": n // a.epochs, "load_s": took, "load_ips": n / took,
            "batch_ips": n / took, "batches": n // a.batch, "peak_rss_mib": peak_rss_mib(),
            "start_rss_mib": after_import}


def run_child(mode: str, folder: str, cache_dir: str, a) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_data_stream", "--child", mode, "--folder",
           folder, "--cache-dir", cache_dir, "--resolution", str(a.resolution), "--batch",
           str(a.batch), "--epochs", str(a.epochs)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, GLOG_v="3"))
    if r.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime not available"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1, help="sampler epochs timed per run")
    ap.add_argument("--memory-max", type=int, default=20000,
                    help="largest size the in-memory reference runs at")
    ap.add_argument("--mindspore", action="store_true", help="also time mindspore.dataset")
    ap.add_argument("--tmp", default=None, help="folder for the images and caches")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        a.mode = a.child
        print(json.dumps(child(a)))
        return
    print("load before:", uptime())
    print(f"{a.resolution}² RGB PNGs, batch {a.batch}, {a.epochs} sampler epoch(s) per run; "
          "ratios are against memory at the same size (* at the largest size it ran)")
    header = (f"{'images':>7} {'mode':<13} {'load img/s':>10} {'batch img/s':>11} "
              f"{'peak RSS MiB':>12} {'load x':>7} {'batch x':>8} {'RSS x':>6}")
    print(header)
    ref = None
    with tempfile.TemporaryDirectory(dir=a.tmp) as tmp:
        for n in a.sizes:
            folder = os.path.join(tmp, f"images{n}")
            t0 = time.perf_counter()
            write_folder(folder, n, a.resolution)
            print(f"# {n} images written in {time.perf_counter() - t0:.0f} s")
            modes = (["memory"] if n <= a.memory_max else []) + ["stream", "stream-reuse"] + \
                (["mindspore"] if a.mindspore else [])
            cache_dir = os.path.join(tmp, f"cache{n}")
            for mode in modes:
                row = run_child(mode.replace("-reuse", ""), folder, cache_dir, a)
                if mode == "memory":
                    ref, ref_n = row, n
                star = "" if ref is not None and ref_n == n else "*"
                ratio = ((lambda k: f"{row[k] / ref[k]:.2f}{star}") if ref else (lambda k: "-"))
                print(f"{n:>7} {mode:<13} {row['load_ips']:>10.0f} {row['batch_ips']:>11.0f} "
                      f"{row['peak_rss_mib']:>12.0f} {ratio('load_ips'):>7} "
                      f"{ratio('batch_ips'):>8} {ratio('peak_rss_mib'):>6}", flush=True)
            import shutil
            shutil.rmtree(folder)
            shutil.rmtree(cache_dir, ignore_errors=True)
    print("load after:", uptime())


if __name__ == "__main__":
    main()
