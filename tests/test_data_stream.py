"""Folders above data.preload_limit_gib: decoded once into the run's cache file and streamed
from disk, with the same batches (bit for bit) and the same resume as the in-memory path."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from msgan.data import cache, pipeline, store
from msgan.data.folder import scan_folder
from msgan.data.pipeline import BatchSampler
from msgan.errors import MsganError

from msgan_process import msgan_env, run_msgan


def make_folder(root, classes=("a", "b", "c"), counts=(9, 4, 2), size=(14, 10)):
    rng = np.random.default_rng(1)
    for name, n in zip(classes, counts):
        os.makedirs(root / name, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(
                root / name / f"{i}.png")
    return root


def both(tmp_path, **kw):
    """(in memory, streamed from the cache) for the same folder."""
    s = scan_folder(str(make_folder(tmp_path / "data")))
    ram = store.load_training_images(s, 8, 3, "crop", preload_limit=1 << 30,
                                     cache_dir=str(tmp_path / "unused"), **kw)
    disk = store.load_training_images(s, 8, 3, "crop", preload_limit=0,
                                      cache_dir=str(tmp_path / "cache"), **kw)
    return ram, disk


def take(sampler, n):
    return [next(sampler) for _ in range(n)]


def test_cache_holds_the_same_images_as_memory(tmp_path):
    ram, disk = both(tmp_path)
    assert not os.path.exists(tmp_path / "unused")          # in memory: nothing written
    assert ram.cache_file is None and disk.cache_file is not None
    assert cache.mapping_of(disk.images) is not None and cache.mapping_of(ram.images) is None
    assert os.path.getsize(disk.cache_file) == 15 * 3 * 8 * 8
    np.testing.assert_array_equal(disk.images, ram.images)
    np.testing.assert_array_equal(disk.labels, ram.labels)
    assert not disk.images.flags.writeable                  # the cache is only read


@pytest.mark.parametrize("balanced", [False, True])
def test_streamed_batches_and_resume_match_memory_bit_for_bit(tmp_path, balanced):
    ram, disk = both(tmp_path)
    a = BatchSampler(ram.images, ram.labels, 4, seed=3, mirror=True, balanced=balanced)
    b = BatchSampler(disk.images, disk.labels, 4, seed=3, mirror=True, balanced=balanced)
    first = take(a, 6)
    for (xa, ya), (xb, yb) in zip(first, take(b, 6)):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    state = json.loads(json.dumps(b.state_dict()))     # as a checkpoint stores it
    later = take(a, 5)

    # resume: a new process maps the cache again (built earlier: not decoded again)
    s = scan_folder(str(tmp_path / "data"))
    again = store.load_training_images(s, 8, 3, "crop", preload_limit=0,
                                       cache_dir=str(tmp_path / "cache"))
    resumed = BatchSampler(again.images, again.labels, 4, seed=99, mirror=True,
                           balanced=balanced)
    resumed.load_state_dict(state)
    for (xa, ya), (xb, yb) in zip(later, take(resumed, 5)):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_rank_shards_of_the_cache_match_memory(tmp_path):
    ram, disk = both(tmp_path)
    for rank in (0, 1):
        a = BatchSampler(ram.images[rank::2], ram.labels[rank::2], 2, seed=rank, mirror=False)
        b = BatchSampler(disk.images[rank::2], disk.labels[rank::2], 2, seed=rank, mirror=False)
        for (xa, _), (xb, _) in zip(take(a, 8), take(b, 8)):
            np.testing.assert_array_equal(xa, xb)


def test_cache_is_reused_until_the_folder_or_settings_change(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data")
    cache_dir = str(tmp_path / "cache")
    s = scan_folder(str(data))
    first = store.load_training_images(s, 8, 3, "crop", preload_limit=0, cache_dir=cache_dir)
    decoded = []
    real = store.read_validated
    monkeypatch.setattr(store, "read_validated", lambda *a: decoded.append(a[0]) or real(*a))
    same = store.load_training_images(s, 8, 3, "crop", preload_limit=0, cache_dir=cache_dir)
    assert decoded == [] and same.cache_file == first.cache_file

    other = store.load_training_images(s, 8, 3, "pad", preload_limit=0, cache_dir=cache_dir)
    assert len(decoded) == 15 and other.cache_file != first.cache_file
    assert not os.path.exists(first.cache_file)             # one cache per run folder
    os.utime(data / "a" / "0.png", ns=(1, 1))               # the folder changed
    store.load_training_images(s, 8, 3, "pad", preload_limit=0, cache_dir=cache_dir)
    assert len(decoded) == 30
    assert sorted(n for n in os.listdir(cache_dir) if not n.startswith(".")) == \
        sorted(os.path.basename(p) for p in cache.paths(cache_dir, cache.cache_key(
            s.files, 8, 3, "pad")))


def test_an_interrupted_build_leaves_no_cache(tmp_path, monkeypatch):
    s = scan_folder(str(make_folder(tmp_path / "data")))
    cache_dir = str(tmp_path / "cache")
    real, calls = store.read_validated, []

    def fail_on_tenth(*a):
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(store, "read_validated", fail_on_tenth)
    with pytest.raises(KeyboardInterrupt):
        store.load_training_images(s, 8, 3, "crop", preload_limit=0, cache_dir=cache_dir)
    assert [n for n in os.listdir(cache_dir) if n != ".lock"] == []   # no rows, no JSON
    monkeypatch.setattr(store, "read_validated", real)
    done = store.load_training_images(s, 8, 3, "crop", preload_limit=0, cache_dir=cache_dir)
    assert done.images.shape == (15, 3, 8, 8)


def test_a_cache_without_room_on_disk_is_refused_in_one_line(tmp_path, monkeypatch):
    s = scan_folder(str(make_folder(tmp_path / "data")))
    monkeypatch.setattr(cache, "_free_bytes", lambda folder: 100)
    with pytest.raises(MsganError, match=r"need .* GiB in .* only .* GiB are free — free disk"):
        store.load_training_images(s, 8, 3, "crop", preload_limit=0,
                                   cache_dir=str(tmp_path / "cache"))


def _mapped_rss_kib(path):
    """Resident KiB of this process's mapping of ``path`` (/proc/self/smaps)."""
    rss, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith("Rss:"):
                rss += int(line.split()[1])
    return rss


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc")
def test_sampler_gives_back_the_pages_it_read(tmp_path, monkeypatch):
    """Resident memory of a streamed folder stays bounded: after RELEASE_BYTES the sampler
    drops the pages it touched (they stay in the page cache, not in the process)."""
    n, shape = 1600, (3, 32, 32)                 # 4.8 MB of rows
    rows = (np.full(shape, i % 251, np.uint8) for i in range(n))
    cache_dir = str(tmp_path / "cache")
    with cache.building_lock(cache_dir):
        meta = cache.write(cache_dir, "k", shape, rows, {"kept": list(range(n))}, expected=n)
    path = cache.paths(cache_dir, "k")[0]

    def peak_resident_kib(release_bytes):
        monkeypatch.setattr(pipeline, "RELEASE_BYTES", release_bytes)
        images = cache.open_images(cache_dir, "k", meta)
        sampler = BatchSampler(images, np.zeros(n, np.int32), 16, seed=0, mirror=False)
        peak, steps = 0, 3 * n // 16
        for i in range(steps):
            x, _ = next(sampler)
            if i % 15 == 0 or i >= steps - 4:
                peak = max(peak, _mapped_rss_kib(path))
        del sampler, images, x
        return peak

    kept = peak_resident_kib(1 << 40)        # never released: the whole file is resident
    bounded = peak_resident_kib(256 * 1024)  # released every 4 rows (64 KiB each)
    assert kept >= 4500
    # at most one window (4 rows) and a batch (16 rows), each row with 64 KiB around it
    assert bounded <= 20 * 64


def test_train_streaming_gives_the_run_trained_in_memory(tmp_path):
    """The CLI with data.preload_limit_gib=0: cache built, said in the log, training identical
    to the in-memory run (same losses), and a resume maps the cache instead of decoding."""
    data = make_folder(tmp_path / "data", counts=(6, 6, 6))
    common = ["configs/gan_digits.yaml", f"data.path={data}", "data.resolution=8",
              "data.channels=3",
              "model.g_hidden=[16]", "model.d_hidden=[16]", "train.batch_size=4",
              "train.progress=false", "train.export=[]", "generate.generate_num=1",
              "generate.batch_size=4", "metrics.extractor=none",
              "metrics.benefit_check=false", "generate.filter=none", "train.tick_kimg=0.008"]

    def train(out, *more):
        r = run_msgan("train", *common, f"output_dir={out}", *more)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stderr

    def losses(out):
        rows = [json.loads(x) for x in (out / "stats.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k.startswith("loss")} for r in rows]

    train(tmp_path / "ram", "train.total_kimg=0.016")
    log = train(tmp_path / "disk", "train.total_kimg=0.016", "data.preload_limit_gib=0")
    assert "over data.preload_limit_gib=0" in log
    caches = [n for n in os.listdir(tmp_path / "disk" / "cache") if n.endswith(".u8")]
    assert len(caches) == 1
    assert os.path.getsize(tmp_path / "disk" / "cache" / caches[0]) == 18 * 3 * 8 * 8
    assert losses(tmp_path / "disk") == losses(tmp_path / "ram") != []
    assert not os.path.exists(tmp_path / "ram" / "cache")

    log = train(tmp_path / "disk", "train.total_kimg=0.024", "data.preload_limit_gib=0",
                "train.resume=auto")
    assert "built earlier" in log


def test_two_processes_share_one_cache_built_once(tmp_path):
    """What msrun's workers do: both ask for the cache at once; one decodes, the other waits on
    the lock and maps the same file."""
    data = make_folder(tmp_path / "data")
    script = (
        "import sys, time, numpy as np\n"
        "from msgan.data import store\n"
        "from msgan.data.folder import scan_folder\n"
        "real, n = store.read_validated, [0]\n"
        "def count(*a):\n"
        "    n[0] += 1\n"
        "    time.sleep(0.1)   # a slow decode: the two overlap\n"
        "    return real(*a)\n"
        "store.read_validated = count\n"
        "t = store.load_training_images(scan_folder(sys.argv[1]), 8, 3, 'crop', 0, sys.argv[2])\n"
        "np.save(sys.argv[3], np.asarray(t.images))\n"
        "print(n[0])\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(data), str(tmp_path / "cache"),
                               str(tmp_path / f"rank{r}.npy")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=msgan_env()) for r in (0, 1)]
    decoded = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        decoded.append(int(out.split()[-1]))
    assert sorted(decoded) == [0, 15]                      # one built it, one mapped it
    np.testing.assert_array_equal(np.load(tmp_path / "rank0.npy"), np.load(tmp_path / "rank1.npy"))
