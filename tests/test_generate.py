"""Samplers (Cell, MindIR, ONNX, checkpoint) and generate(): images, layout, manifest, seeds."""
import json
import os

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
pytest.importorskip("onnxruntime")
from PIL import Image  # noqa: E402

from msgan.errors import MsganError  # noqa: E402
from msgan.inference.export import export_generator  # noqa: E402
from msgan.io import file_mode  # noqa: E402
from msgan.inference.generate import generate, load_sampler  # noqa: E402
from msgan.inference.latents import z_from_seeds  # noqa: E402
from msgan.inference.samplers import (CellSampler, CheckpointSampler, MindIRSampler,  # noqa: E402
                                      OnnxSampler, to_uint8)

from tiny_generator import (BATCH, CLASSES, RES, Z_DIM, ExportCond,  # noqa: E402
                            ExportUncond, TinyG, make_meta)


def meta_for(conditional):
    meta = make_meta(conditional, channels=3 if conditional else 1)
    meta["kimg"] = 0.5
    return meta


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE)


@pytest.fixture(scope="module")
def cond(tmp_path_factory):
    ms.set_seed(3)
    net = ExportCond(TinyG(3, 3))
    net.set_train(False)
    folder = tmp_path_factory.mktemp("cond") / "model"
    result = export_generator(net, meta_for(True), str(folder / "G"))
    assert result["mindir"]["ok"] and result["onnx"]["ok"], result
    # MindSpore writes exports -r--------; they get the usual mode like every other output
    for f in ("G.mindir", "G.onnx", "G.json"):
        assert os.stat(folder / f).st_mode & 0o777 == file_mode(), f
    return net, result["mindir"]["path"], result["onnx"]["path"]


@pytest.fixture(scope="module")
def uncond(tmp_path_factory):
    ms.set_seed(4)
    net = ExportUncond(TinyG(0, 1))
    net.set_train(False)
    folder = tmp_path_factory.mktemp("uncond")
    result = export_generator(net, meta_for(False), str(folder / "G"), formats=("onnx",))
    assert result["onnx"]["ok"], result
    return net, result["onnx"]["path"]


@pytest.fixture(scope="module")
def cell_sampler(cond):
    return CellSampler(cond[0], meta_for(True))


def read_image(path):
    img = np.asarray(Image.open(path))
    return img[None] if img.ndim == 2 else img.transpose(2, 0, 1)


def read_manifest(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ----------------------------------------------------------------------------------------------

def test_to_uint8_rounds_and_clips():
    x = np.array([-2.0, -1.0, -0.999, 0.0, 0.5, 1.0, 3.0, np.nan], np.float32)
    assert to_uint8(x).tolist() == [0, 0, 0, 128, 191, 255, 255, 0]    # NaN: as -1, black


def test_z_from_seeds_uses_one_random_state_per_seed():
    z = z_from_seeds([7, 8, 9], Z_DIM)
    assert z.dtype == np.float32 and z.shape == (3, Z_DIM)
    np.testing.assert_array_equal(z[1], np.random.RandomState(8).standard_normal(Z_DIM)
                                  .astype(np.float32))
    np.testing.assert_array_equal(z_from_seeds([8], Z_DIM)[0], z[1])
    u = z_from_seeds(range(50), Z_DIM, "uniform")
    assert u.min() >= -1 and u.max() <= 1 and u.min() < -0.9 and u.max() > 0.9


def test_samplers_agree_for_any_n(cond, cell_sampler):
    net, mindir_path, onnx_path = cond
    mindir, onnx_ = load_sampler(mindir_path), load_sampler(onnx_path)
    assert isinstance(mindir, MindIRSampler) and isinstance(onnx_, OnnxSampler)
    assert mindir.meta["classes"] == CLASSES
    n = 10                                  # not a multiple of the batch of 4
    z = z_from_seeds(range(100, 100 + n), Z_DIM)
    c = (np.arange(n) % 3).astype(np.int32)
    out = {name: s(z, c, 0.8) for name, s in
           (("cell", cell_sampler), ("mindir", mindir), ("onnx", onnx_))}
    for images in out.values():
        assert images.dtype == np.uint8 and images.shape == (n, 3, RES, RES)
    for other in ("mindir", "onnx"):
        assert np.abs(out[other].astype(int) - out["cell"]).max() <= 1
    # reference straight from the Cell, one padded batch at a time
    for start in range(0, n, BATCH):
        k = min(BATCH, n - start)
        zb = np.zeros((BATCH, Z_DIM), np.float32)
        zb[:k] = z[start:start + k]
        cb = np.zeros(BATCH, np.int32)
        cb[:k] = c[start:start + k]
        ref = net(ms.Tensor(zb), ms.Tensor(cb), ms.Tensor(np.full(BATCH, 0.8, np.float32)))
        expected = np.clip(np.rint((ref.asnumpy()[:k] + 1) * 127.5), 0, 255)
        np.testing.assert_array_equal(out["cell"][start:start + k], expected)
    # psi reaches the model; a single image equals its row in a bigger call
    assert np.abs(cell_sampler(z, c, 0.3).astype(int) - out["cell"]).max() > 5
    np.testing.assert_array_equal(onnx_(z[7:8], c[7:8], 0.8)[0], out["onnx"][7])
    assert cell_sampler(z[:0], c[:0], 1.0).shape == (0, 3, RES, RES)


def test_generate_conditional_layout_and_manifest(cell_sampler, tmp_path):
    out = tmp_path / "out"
    paths = generate(cell_sampler, str(out), 3, seed=5, progress=False)
    assert len(paths) == 9
    assert sorted(os.listdir(out)) == ["Data", "output_0.manifest"]
    for name in CLASSES:
        files = sorted(os.listdir(out / "Data" / name))
        assert files == [f"{name}_{s}.png" for s in (5, 6, 7)]   # seeds S..S+n-1 per class
        for f in files:
            with Image.open(out / "Data" / name / f) as img:
                assert img.size == (RES, RES) and img.mode == "RGB" and img.format == "PNG"
    lines = read_manifest(out / "output_0.manifest")
    assert len(lines) == 9
    assert [line["source"] for line in lines] == paths
    assert len({line["id"] for line in lines}) == 9
    for line in lines:
        assert set(line) == {"id", "source", "usage", "annotation"}
        assert os.path.isabs(line["source"]) and os.path.isfile(line["source"])
        assert line["usage"] == "train"
        folder = os.path.basename(os.path.dirname(line["source"]))
        assert line["annotation"] == [{"name": folder, "type": "modelarts/image_classification"}]


def test_generated_image_can_be_regenerated_alone(cell_sampler, tmp_path):
    paths = generate(cell_sampler, str(tmp_path / "a"), 2, seed=11, truncation=0.9,
                     progress=False)
    again = generate(cell_sampler, str(tmp_path / "b"), 2, seed=11, truncation=0.9,
                     progress=False)
    for p, q in zip(paths, again):
        with open(p, "rb") as f, open(q, "rb") as g:
            assert f.read() == g.read()
    # eel is class 2; its second image has seed 12: the latent of seed 12, class input 2
    path = tmp_path / "a" / "Data" / "eel" / "eel_12.png"
    alone = cell_sampler(z_from_seeds([12], Z_DIM), np.array([2], np.int32), 0.9)[0]
    np.testing.assert_array_equal(read_image(path), alone)
    # msgan generate --class eel --seed 12 --num 1 remakes that one file
    (one,) = generate(cell_sampler, str(tmp_path / "one"), 1, seed=12, truncation=0.9,
                      class_name="eel", progress=False)
    assert os.path.basename(one) == "eel_12.png"
    with open(one, "rb") as f, open(path, "rb") as g:
        assert f.read() == g.read()
    # the same seed in another class is the same latent with another class input
    dog = read_image(tmp_path / "a" / "Data" / "dog" / "dog_12.png")
    assert not np.array_equal(dog, read_image(path))
    # another seed gives other images
    other = generate(cell_sampler, str(tmp_path / "c"), 2, seed=12, truncation=0.9,
                     progress=False)
    assert not np.array_equal(read_image(other[0]), read_image(paths[0]))


def test_class_name_restricts_to_the_full_run_images(cell_sampler, tmp_path):
    full = generate(cell_sampler, str(tmp_path / "full"), 2, progress=False)
    dog = generate(cell_sampler, str(tmp_path / "dog"), 2, class_name="dog", progress=False)
    assert sorted(os.listdir(tmp_path / "dog" / "Data")) == [".msgan-generated", "dog"]
    assert [os.path.basename(p) for p in dog] == ["dog_0.png", "dog_1.png"]
    full_dog = [p for p in full if os.path.basename(os.path.dirname(p)) == "dog"]
    for p, q in zip(dog, full_dog):
        np.testing.assert_array_equal(read_image(p), read_image(q))
    assert len(read_manifest(tmp_path / "dog" / "output_0.manifest")) == 2
    with pytest.raises(MsganError, match="cat, dog, eel"):
        generate(cell_sampler, str(tmp_path / "x"), 2, class_name="emu", progress=False)


def test_counts_per_class(cell_sampler, tmp_path):
    paths = generate(cell_sampler, str(tmp_path), 99, counts={"cat": 1, "eel": 4},
                     fmt="jpg", progress=False)
    by_class = [os.path.basename(os.path.dirname(p)) for p in paths]
    assert by_class == ["cat"] + ["eel"] * 4
    assert not (tmp_path / "Data" / "dog").exists()
    with Image.open(paths[0]) as img:
        assert img.format == "JPEG" and img.size == (RES, RES)
    with pytest.raises(MsganError, match="emu"):
        generate(cell_sampler, str(tmp_path), 1, counts={"emu": 1}, progress=False)


def test_accept_keeps_only_accepted_seeds_and_fills_from_later_ones(cell_sampler, tmp_path,
                                                                     capsys):
    """generate.filter's mechanics: rejected seeds are skipped, later seeds fill the count,
    every kept file is its seed's image, and a class that is never accepted stops at its
    candidate budget, with no empty folder in Data/; the bar still ends at 100%."""
    asked = []

    def accept(images, k):          # dog: every other image; eel: none; cat: all
        asked.append((k, len(images)))
        if k == 1:
            return np.arange(len(images)) % 2 == 0
        return np.full(len(images), k == 0)

    tally = {}
    paths = generate(cell_sampler, str(tmp_path), 3, seed=5, progress=True, accept=accept,
                     tries=2, tally=tally)
    names = {c: sorted(os.listdir(tmp_path / "Data" / c)) for c in ("cat", "dog")}
    assert names["cat"] == ["cat_5.png", "cat_6.png", "cat_7.png"]
    assert names["dog"] == ["dog_5.png", "dog_7.png", "dog_9.png"]     # 6 and 8 rejected
    assert not (tmp_path / "Data" / "eel").exists()      # not an empty class folder
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert any("100%" in ln and "9/9" in ln and "kept=6" in ln for ln in bar), bar[-3:]
    assert tally == {"cat": {"asked": 3, "kept": 3, "tried": 4},     # one batch (4) was enough
                     "dog": {"asked": 3, "kept": 3, "tried": 6},
                     "eel": {"asked": 3, "kept": 0, "tried": 6}}
    assert {k for k, _ in asked} == {0, 1, 2} and all(n <= 6 for _, n in asked)
    lines = read_manifest(tmp_path / "output_0.manifest")
    assert [line["source"] for line in lines] == paths and len(paths) == 6
    dog_9 = cell_sampler(z_from_seeds([9], Z_DIM), np.array([1], np.int32), 1.0)[0]
    np.testing.assert_array_equal(read_image(tmp_path / "Data" / "dog" / "dog_9.png"), dog_9)


def test_keep_class_withholds_a_whole_class_before_anything_is_written(cell_sampler, tmp_path):
    """keep_class sees each class's accepted images together; a class it refuses gets no file,
    no folder and no manifest line, and the tally says how many were withheld."""
    seen = {}

    def keep_class(images, k):
        seen[k] = images.shape
        return k != 1                                   # withhold dog

    tally = {}
    paths = generate(cell_sampler, str(tmp_path), 3, seed=0, progress=False,
                     accept=lambda images, k: np.ones(len(images), bool), tally=tally,
                     keep_class=keep_class)
    assert seen == {k: (3, 3, RES, RES) for k in range(3)}
    assert not (tmp_path / "Data" / "dog").exists()
    assert sorted(os.listdir(tmp_path / "Data" / "eel")) == ["eel_0.png", "eel_1.png", "eel_2.png"]
    assert tally["dog"] == {"asked": 3, "kept": 0, "tried": 3, "dropped": 3}
    assert tally["cat"] == {"asked": 3, "kept": 3, "tried": 3}
    lines = read_manifest(tmp_path / "output_0.manifest")
    assert [line["source"] for line in lines] == paths and len(paths) == 6
    assert not any("/dog/" in p for p in paths)


def test_unconditional_layout(uncond, tmp_path):
    _, onnx_path = uncond
    sampler = load_sampler(onnx_path)
    paths = generate(sampler, str(tmp_path), 5, seed=3, progress=False)
    assert sorted(os.path.basename(p) for p in paths) == [f"seed{s}.png" for s in range(3, 8)]
    assert all(os.path.dirname(p) == str(tmp_path / "Data") for p in paths)
    with Image.open(paths[0]) as img:
        assert img.mode == "L" and img.size == (RES, RES)
    lines = read_manifest(tmp_path / "output_0.manifest")
    assert [line["annotation"] for line in lines] == [[]] * 5
    assert [line["source"] for line in lines] == paths
    with pytest.raises(MsganError, match="no classes"):
        generate(sampler, str(tmp_path), 1, class_name="cat", progress=False)


def test_rerun_replaces_only_our_output(cell_sampler, tmp_path):
    (tmp_path / "keep.txt").write_text("not ours")
    generate(cell_sampler, str(tmp_path), 3, progress=False)
    (tmp_path / "Data" / "cat" / "notes.txt").write_text("a user's file among the images")
    # msgan generate without --force refuses to touch earlier output
    with pytest.raises(MsganError, match="--force"):
        generate(cell_sampler, str(tmp_path), 1, progress=False, overwrite=False)
    assert len(os.listdir(tmp_path / "Data" / "cat")) == 4
    paths = generate(cell_sampler, str(tmp_path), 1, progress=False, overwrite=True)
    assert sorted(os.listdir(tmp_path / "Data" / "cat")) == ["cat_0.png", "notes.txt"]
    assert len(read_manifest(tmp_path / "output_0.manifest")) == len(paths) == 3
    assert (tmp_path / "keep.txt").read_text() == "not ours"
    assert (tmp_path / "Data" / "cat" / "notes.txt").is_file()
    # the images and the manifest get the usual file mode (umask), not a temp file's 0600
    for p in (paths[0], tmp_path / "output_0.manifest"):
        assert os.stat(p).st_mode & 0o777 == file_mode()
    # an empty --out, or one with other files but no Data/, needs no --force
    generate(cell_sampler, str(tmp_path / "fresh"), 1, progress=False, overwrite=False)
    # a Data/ folder that msgan did not write is never deleted
    foreign = tmp_path / "foreign"
    (foreign / "Data" / "cat").mkdir(parents=True)
    (foreign / "Data" / "cat" / "mine.png").write_bytes(b"user data")
    with pytest.raises(MsganError, match="did not write"):
        generate(cell_sampler, str(foreign), 1, progress=False)
    assert (foreign / "Data" / "cat" / "mine.png").read_bytes() == b"user data"


def test_load_sampler_errors(cond, tmp_path):
    _, mindir_path, onnx_path = cond
    with pytest.raises(MsganError, match="does not exist"):
        load_sampler(str(tmp_path / "missing.onnx"))
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(MsganError, match="unknown model type"):
        load_sampler(str(tmp_path / "model.txt"))
    # corrupt files next to a valid sidecar
    sidecar = open(os.path.splitext(onnx_path)[0] + ".json").read()
    for ext in ("onnx", "mindir"):
        (tmp_path / f"bad.{ext}").write_bytes(b"\x00not a model" * 10)
        (tmp_path / "bad.json").write_text(sidecar)
        with pytest.raises(MsganError, match="could not be loaded"):
            load_sampler(str(tmp_path / f"bad.{ext}"))
    # a model without its sidecar
    (tmp_path / "lonely.onnx").write_bytes(open(onnx_path, "rb").read())
    with pytest.raises(MsganError, match="sidecar"):
        load_sampler(str(tmp_path / "lonely.onnx"))
    (tmp_path / "broken.onnx").write_bytes(open(onnx_path, "rb").read())
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(MsganError, match="not valid JSON"):
        load_sampler(str(tmp_path / "broken.onnx"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MsganError, match="no snapshot"):
        load_sampler(str(tmp_path / "empty"))
    (tmp_path / "x.ckpt").write_bytes(b"junk")
    with pytest.raises(MsganError, match="G_ema.ckpt"):
        load_sampler(str(tmp_path / "x.ckpt"))


def test_run_folder_uses_newest_export(cond, tmp_path):
    net, mindir_path, onnx_path = cond
    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    for stem, src in (("old", onnx_path), ("new", mindir_path)):
        for ext in (os.path.splitext(src)[1], ".json"):
            target = model / (stem + ext)
            target.write_bytes(open(os.path.splitext(src)[0] + ext, "rb").read())
            os.utime(target, (1000 if stem == "old" else 2000,) * 2)
    assert isinstance(load_sampler(str(tmp_path / "run")), MindIRSampler)
    assert isinstance(load_sampler(str(model)), MindIRSampler)
    os.remove(model / "new.mindir")
    assert isinstance(load_sampler(str(tmp_path / "run")), OnnxSampler)


# ----------------------------------------------------------------------------------------------
# Checkpoints: a real DCGAN generator saved the way training saves snapshots

def dcgan_snapshot(root, nimg, seed, prefix=""):
    from msgan.models import MODELS

    model_cfg = {"name": "dcgan", "z_dim": Z_DIM, "ngf": 8, "ndf": 8, "embed_dim": 4}
    ms.set_seed(seed)
    G, _ = MODELS["dcgan"].build(MODELS["dcgan"].config(**model_cfg), 32, 3, 2)
    meta = {"model": "dcgan", "model_cfg": model_cfg, "z_dim": Z_DIM, "z_dist": "gaussian",
            "num_classes": 2, "classes": ["a", "b"], "resolution": 32, "channels": 3,
            "batch": BATCH, "inputs": ["z", "c"], "kimg": nimg / 1000}
    folder = os.path.join(root, "checkpoints", f"snapshot-{nimg:09d}")
    os.makedirs(folder)
    ms.save_checkpoint([{"name": prefix + p.name, "data": p} for p in G.get_parameters()],
                       os.path.join(folder, "G_ema.ckpt"))
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f)
    return G, folder


def test_checkpoint_sampler_matches_the_saved_generator(tmp_path):
    pytest.importorskip("msgan.models")
    from msgan.models import MODELS

    G_old, _ = dcgan_snapshot(str(tmp_path), 1000, seed=1)
    G, folder = dcgan_snapshot(str(tmp_path), 2000, seed=2)
    z = z_from_seeds(range(6), Z_DIM)
    c = np.array([0, 1, 0, 1, 1, 0], np.int32)
    for path in (folder, os.path.join(folder, "G_ema.ckpt"), str(tmp_path)):
        sampler = load_sampler(path)     # the run folder picks the newest snapshot
        assert isinstance(sampler, CheckpointSampler)
        images = sampler(z, c, 1.0)
        assert images.shape == (6, 3, 32, 32)
    net = MODELS["dcgan"].export_net(G)
    zb, cb = np.zeros((8, Z_DIM), np.float32), np.zeros(8, np.int32)
    zb[:6], cb[:6] = z, c
    ref = net(ms.Tensor(zb[:4]), ms.Tensor(cb[:4])).asnumpy()
    np.testing.assert_array_equal(images[:4], to_uint8(ref))
    old = MODELS["dcgan"].export_net(G_old)
    assert not np.array_equal(images[:4], to_uint8(old(ms.Tensor(zb[:4]),
                                                       ms.Tensor(cb[:4])).asnumpy()))
    paths = generate(sampler, str(tmp_path / "gen"), 2, progress=False)
    assert [os.path.basename(p) for p in paths] == ["a_0.png", "a_1.png", "b_0.png", "b_1.png"]


def test_checkpoint_names_and_shapes_are_checked(tmp_path):
    pytest.importorskip("msgan.models")
    _, prefixed = dcgan_snapshot(str(tmp_path / "p"), 1000, seed=1, prefix="G_ema.")
    assert isinstance(load_sampler(prefixed), CheckpointSampler)   # one common prefix is fine
    _, folder = dcgan_snapshot(str(tmp_path / "q"), 1000, seed=1)
    saved = ms.load_checkpoint(os.path.join(folder, "G_ema.ckpt"))
    dropped = sorted(saved)[0]
    ms.save_checkpoint([{"name": k, "data": v} for k, v in saved.items() if k != dropped],
                       os.path.join(folder, "G_ema.ckpt"))
    with pytest.raises(MsganError, match="missing"):
        load_sampler(folder)
    _, folder = dcgan_snapshot(str(tmp_path / "r"), 1000, seed=1)
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    meta["model_cfg"]["ngf"] = 16
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f)
    with pytest.raises(MsganError, match="shape"):
        load_sampler(folder)
