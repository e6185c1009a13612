"""generate streams: each manifest line is written as its image is (not held until the end),
and the manifest appears only when complete: a failed run leaves none, never a partial one."""
import glob
import json
import os

import numpy as np
import pytest
from PIL import Image

from msgan.inference.generate import generate

CLASSES = ["cat", "dog"]


class FakeSampler:
    """Solid-colour images; calls ``on_call(n)`` before its n-th call (1-based)."""

    def __init__(self, on_call=None, batch=4):
        self.meta = {"model": "fake", "z_dim": 2, "z_dist": "gaussian", "batch": batch,
                     "num_classes": len(CLASSES), "classes": CLASSES, "inputs": ["z", "c"],
                     "resolution": 8, "channels": 3}
        self.calls, self.on_call = 0, on_call

    def __call__(self, z, c, psi):
        self.calls += 1
        if self.on_call:
            self.on_call(self.calls)
        return np.repeat(np.asarray(c, np.uint8)[:, None, None, None] * 100, 3, 1).repeat(
            8, 2).repeat(8, 3)


def pending_lines(out):
    """Lines in the manifest being written (its temporary file next to the manifest)."""
    tmp = glob.glob(os.path.join(out, ".tmp-*"))
    assert len(tmp) == 1 and not os.path.exists(os.path.join(out, "output_0.manifest"))
    return sum(1 for _ in open(tmp[0], encoding="utf-8"))


def test_manifest_lines_are_written_as_images_are(tmp_path):
    out = str(tmp_path / "out")
    seen = []
    # 2 classes x 300 images in chunks of 64: before each call the earlier chunks' lines are
    # in the file (all but what its write buffer holds, a few KiB), not in memory
    sampler = FakeSampler(on_call=lambda n: seen.append(pending_lines(out)) if n > 1 else None)
    paths = generate(sampler, out, 300, progress=False)
    assert len(seen) == sampler.calls - 1 == 9
    assert seen == sorted(seen) and seen[-1] > 400       # 576 written before the last call
    lines = [json.loads(x) for x in open(os.path.join(out, "output_0.manifest"), encoding="utf-8")]
    assert len(lines) == len(paths) == 600
    assert [x["source"] for x in lines] == paths
    assert {x["annotation"][0]["name"] for x in lines} == set(CLASSES)
    assert all(os.path.isfile(x["source"]) for x in lines)
    assert np.asarray(Image.open(paths[-1])).max() == 100        # the dog's colour
    assert glob.glob(os.path.join(out, ".tmp-*")) == []


def test_a_failed_run_leaves_no_partial_manifest(tmp_path):
    out = str(tmp_path / "out")

    def fail_third(n):
        if n == 3:
            raise RuntimeError("device lost")
    with pytest.raises(RuntimeError, match="device lost"):
        generate(FakeSampler(on_call=fail_third), out, 300, progress=False)
    assert not os.path.exists(os.path.join(out, "output_0.manifest"))
    assert glob.glob(os.path.join(out, ".tmp-*")) == []
    # the images written so far are msgan's (listed in Data/.msgan-generated): a rerun replaces
    paths = generate(FakeSampler(), out, 5, progress=False)
    assert len(open(os.path.join(out, "output_0.manifest")).readlines()) == len(paths) == 10
    assert sorted(os.listdir(os.path.join(out, "Data", "cat"))) == \
        sorted(f"cat_{s}.png" for s in range(5))


def test_filtered_generation_streams_its_manifest_too(tmp_path):
    out = str(tmp_path / "out")
    paths = generate(FakeSampler(), out, 7, progress=False,
                     accept=lambda images, k: np.arange(len(images)) % 2 == 0, tries=3)
    lines = [json.loads(x) for x in open(os.path.join(out, "output_0.manifest"))]
    assert len(lines) == len(paths) == 14
    assert glob.glob(os.path.join(out, ".tmp-*")) == []
