"""train.init_from (fine-tuning from a converted model, a msgan run or snapshot) and model.freeze_d.

Sources are made here from freshly built msgan nets (the converted-model folder of msgan convert:
meta.json + G.ckpt, D.ckpt, G_ema.ckpt with a freshly built net's names) and from real tiny
runs. The adapted cases are checked by what the nets compute, not only by what was copied.
"""
import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan.config import load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.models import MODELS  # noqa: E402
from msgan.train import checkpoint, init_from  # noqa: E402
from msgan.train.phases import build_phases  # noqa: E402
from msgan.train.phases.base import Progress  # noqa: E402
from msgan.train.tasks.noise import build_meta  # noqa: E402

from msgan_process import ROOT, run_msgan  # noqa: E402

B = 4
SG2 = ["model.name=stylegan2", "model.z_dim=8", "model.w_dim=8", "model.channel_base=64",
       "model.channel_max=16", "data.resolution=8", f"train.batch_size={B}"]
DCGAN = ["model.name=dcgan", "model.z_dim=8", "model.ngf=4", "model.ndf=4",
         "data.resolution=32", f"train.batch_size={B}"]


def config(base, *extra, channels=3):
    return load_config(None, [*base, f"data.channels={channels}", *extra])


def perturb(nets, seed):
    """Give biases, BatchNorm statistics, w_avg, noise strengths non-initial values, so that a
    value left at its initial one (not loaded) shows."""
    rng = np.random.default_rng(seed)
    for net in nets:
        for p in net.get_parameters():
            leaf = p.name.rsplit(".", 1)[-1]
            if leaf in ("w_avg", "bias", "noise_strength", "beta", "moving_mean"):
                p.set_data(Tensor(rng.standard_normal(p.shape).astype(np.float32) * 0.1))
            elif leaf in ("gamma", "moving_variance"):
                p.set_data(Tensor(rng.uniform(0.5, 1.5, p.shape).astype(np.float32)))


def make_converted(folder, cfg, classes=(), seed=1, kimg=1234.0):
    """A converted-model folder (msgan convert's layout) from freshly built msgan nets; G_ema is
    built apart from G, so loading one in place of the other shows."""
    os.makedirs(folder, exist_ok=True)
    np.random.seed(seed)
    spec, d = MODELS[cfg.model.name], cfg.data
    G, D = spec.build(cfg.model, d.resolution, d.channels, len(classes))
    G_ema, _ = spec.build(cfg.model, d.resolution, d.channels, len(classes))
    perturb((G, D, G_ema), seed)
    for key, net in (("G", G), ("D", D), ("G_ema", G_ema)):
        ms.save_checkpoint([{"name": p.name, "data": p} for p in net.get_parameters()],
                           os.path.join(folder, f"{key}.ckpt"))
    meta = build_meta(cfg, tuple(classes), B)
    meta["kimg"] = None
    meta["source"] = {"format": "test fixture", "kimg": kimg}
    with open(os.path.join(folder, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f)
    for net in (G, D, G_ema):
        net.set_train(False)
    return {"G": G, "D": D, "G_ema": G_ema}


def fine_tune(cfg_args, source_path, classes=(), out="unused-out", seed=7):
    """Phases of the target config after train.init_from loaded ``source_path`` (as the run does:
    prepare, build, load), and the record for stats.jsonl."""
    cfg = load_config(None, [*cfg_args, f"train.init_from={source_path}"])
    cfg, source = init_from.prepare(cfg)
    np.random.seed(seed)
    ms.set_seed(seed)
    ph = build_phases(cfg, len(classes))
    info = init_from.load(ph, source, tuple(classes), cfg.data.channels)
    return ph, info


def sg2_images(G, z, c):
    """StyleGAN2 G's images (unclamped, constant noise) for fixed z and labels."""
    ws = G.mapping(Tensor(z), Tensor(np.asarray(c, np.int32)))
    return G.synthesis(ws, (), "const").asnumpy()


def latents(n=B, dim=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def params(net):
    return {p.name.split(".", 1)[1] if p.name.startswith(("G.", "D.", "G_ema.")) else p.name:
            p.asnumpy().copy() for p in net.get_parameters()}     # asnumpy() may share memory


# ----------------------------------------------------------------------------------------------
# StyleGAN2: the same data as the source

def test_same_config_loads_G_D_G_ema_and_starts_from_the_source_images(tmp_path):
    src = make_converted(tmp_path / "conv", config(SG2))
    ph, info = fine_tune([*SG2, "data.channels=3"], tmp_path / "conv")
    cells = ph.state_cells()
    for key in ("G", "D", "G_ema"):
        mine, theirs = params(cells[key]), params(src[key])
        assert mine.keys() == theirs.keys()
        for name in mine:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=f"{key}.{name}")
    assert info["kind"] == "converted" and info["source_kimg"] == 1234.0
    assert info["fresh"] == [] and info["adapted"] == []
    z = latents()
    c = np.zeros(B, np.int32)
    # the compiled sampler the snapshots use (truncation included: w_avg was loaded)
    psi = Tensor(np.full((B,), 0.7, np.float32))
    want = np.clip(src["G_ema"].synthesis(src["G_ema"].mapping.truncate(
        src["G_ema"].mapping(Tensor(z), Tensor(c)), psi), (), "const").asnumpy(), -1, 1)
    got = ph.sample(Tensor(z), Tensor(c), psi).asnumpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_architecture_keys_come_from_the_source_in_one_log_line(tmp_path, caplog):
    make_converted(tmp_path / "conv", config(SG2))
    cfg = load_config(None, [*SG2, "model.channel_base=128", "model.w_dim=16",
                             "model.mapping_layers=3", f"train.init_from={tmp_path / 'conv'}"])
    with caplog.at_level(logging.INFO, logger="msgan"):
        cfg, _ = init_from.prepare(cfg)
    m = cfg.model
    assert (m.channel_base, m.w_dim, m.mapping_layers, m.z_dim) == (64, 8, 2, 8)
    lines = [r.getMessage() for r in caplog.records if "taken from init_from" in r.getMessage()]
    assert len(lines) == 1
    for part in ("model.channel_base 128 → 64", "model.w_dim 16 → 8",
                 "model.mapping_layers 3 → 2"):
        assert part in lines[0]
    assert "z_dim" not in lines[0]          # equal on both sides: not listed


# ----------------------------------------------------------------------------------------------
# StyleGAN2: the cases that break the anchors

def test_unconditional_source_class_folder_target_starts_as_the_source(tmp_path):
    src = make_converted(tmp_path / "conv", config(SG2))
    ph, info = fine_tune([*SG2, "data.channels=3"], tmp_path / "conv", classes=("a", "b", "c"))
    z = latents()
    want = sg2_images(src["G_ema"], z, np.zeros(B))
    G_ema = ph.state_cells()["G_ema"]
    for k in range(3):          # every class draws what the unconditional source drew
        np.testing.assert_allclose(sg2_images(G_ema, z, np.full(B, k)), want, atol=1e-5)
    np.testing.assert_allclose(sg2_images(ph.G, z, np.full(B, 1)),
                               sg2_images(src["G"], z, np.zeros(B)), atol=1e-5)
    assert info["fresh"] == ["G.mapping.embed", "D.mapping (label mapping)",
                             "D.epilogue.out (projection head)"]
    assert any(a.startswith("G.mapping.fcs.0") for a in info["adapted"])
    # the embedding columns start at zero, the z columns rescaled for the larger fan-in
    w = params(ph.G)["mapping.fcs.0.weight"]
    assert np.all(w[:, 8:] == 0)
    np.testing.assert_allclose(w[:, :8], params(src["G"])["mapping.fcs.0.weight"] * np.sqrt(2),
                               rtol=1e-6)
    # D's blocks are the source's
    for name, value in params(src["D"]).items():
        if name.startswith("blocks."):
            np.testing.assert_array_equal(params(ph.D)[name], value)


def test_source_with_another_number_of_classes(tmp_path):
    src = make_converted(tmp_path / "conv", config(SG2), classes=("x", "y"))
    ph, info = fine_tune([*SG2, "data.channels=3"], tmp_path / "conv", classes=("a", "b", "c"))
    assert info["fresh"] == ["G.mapping.embed", "D.mapping.embed"]
    mine, theirs = params(ph.G), params(src["G"])
    assert mine["mapping.embed.weight"].shape == (3, 8)
    for name in theirs:
        if not name.startswith("mapping.embed."):
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
    d_mine, d_theirs = params(ph.D), params(src["D"])
    np.testing.assert_array_equal(d_mine["epilogue.out.weight"], d_theirs["epilogue.out.weight"])
    np.testing.assert_array_equal(d_mine["mapping.fcs.3.weight"], d_theirs["mapping.fcs.3.weight"])


def test_same_number_of_classes_other_names_loads_by_position(tmp_path):
    src = make_converted(tmp_path / "conv", config(SG2), classes=("x", "y"))
    ph, info = fine_tune([*SG2, "data.channels=3"], tmp_path / "conv", classes=("a", "b"))
    assert info["fresh"] == []
    assert info["adapted"] == ["class embeddings taken by position (x, y → a, b)"]
    np.testing.assert_array_equal(params(ph.G)["mapping.embed.weight"],
                                  params(src["G"])["mapping.embed.weight"])


def test_conditional_source_unconditional_target_drops_the_embedding(tmp_path):
    src = make_converted(tmp_path / "conv", config(SG2), classes=("x", "y"))
    ph, info = fine_tune([*SG2, "data.channels=3"], tmp_path / "conv")
    assert info["fresh"] == ["D.epilogue.out (projection head)"]
    assert any("class embedding dropped" in a for a in info["adapted"])
    mine, theirs = params(ph.G), params(src["G"])
    assert "mapping.embed.weight" not in mine
    np.testing.assert_allclose(mine["mapping.fcs.0.weight"],
                               theirs["mapping.fcs.0.weight"][:, :8] / np.sqrt(2), rtol=1e-6)
    # the classes' mean contribution is kept: the first layer's pre-activation is the mean of
    # the source's over its classes (equalised LR: weight * lr_mul / sqrt(fan_in), bias * lr_mul)
    z = latents()
    nz = normalized(z)
    got = (nz @ (mine["mapping.fcs.0.weight"] * 0.01 / np.sqrt(8)).T
           + mine["mapping.fcs.0.bias"] * 0.01)
    per_class = [np.concatenate([nz, class_part(src["G"], k)], 1)
                 @ (theirs["mapping.fcs.0.weight"] * 0.01 / np.sqrt(16)).T
                 + theirs["mapping.fcs.0.bias"] * 0.01 for k in (0, 1)]
    np.testing.assert_allclose(got, (per_class[0] + per_class[1]) / 2, rtol=1e-4, atol=1e-6)


def normalized(x):
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-8)


def class_part(G, k):
    """The normalised class embedding the source's mapping puts beside z."""
    return normalized(G.mapping.embed(Tensor(np.full(B, k, np.int32))).asnumpy())


@pytest.mark.parametrize("src_ch,dst_ch", [(3, 1), (1, 3)])
def test_grey_and_rgb_sources_and_targets(tmp_path, src_ch, dst_ch):
    src = make_converted(tmp_path / "conv", config(SG2, channels=src_ch))
    ph, info = fine_tune([*SG2, f"data.channels={dst_ch}"], tmp_path / "conv")
    assert len(info["adapted"]) == 1 and ("luma" if src_ch == 3 else "copied") in info["adapted"][0]
    z = latents()
    want, got = (sg2_images(src["G_ema"], z, np.zeros(B)),
                 sg2_images(ph.state_cells()["G_ema"], z, np.zeros(B)))
    if src_ch == 3:
        want = np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), want,
                            axes=([0], [1]))[:, None]
    else:
        want = np.repeat(want, 3, axis=1)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # D: a grey image seen as R=G=B (or an RGB image seen by the grey D as its channel mean)
    # gets the source's logits
    x = np.random.default_rng(1).uniform(-1, 1, (B, dst_ch, 8, 8)).astype(np.float32)
    c = Tensor(np.zeros(B, np.int32))
    seen = np.repeat(x, 3, axis=1) if dst_ch == 1 else x.mean(axis=1, keepdims=True)
    ph.D.set_train(False)
    np.testing.assert_allclose(ph.D(Tensor(x), c).asnumpy(),
                               src["D"](Tensor(seen), c).asnumpy(), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Bad input: one line each

def test_bad_init_from_paths_and_mismatches_are_one_line(tmp_path):
    make_converted(tmp_path / "conv", config(SG2))
    (tmp_path / "empty").mkdir()
    for path, text in ((tmp_path / "nothing", "does not exist"),
                       (tmp_path / "empty", "holds no model")):
        with pytest.raises(MsganError, match=text) as e:
            init_from.prepare(load_config(None, [*SG2, f"train.init_from={path}"]))
        assert "\n" not in str(e.value)
    with pytest.raises(MsganError) as e:
        init_from.prepare(load_config(None, [*SG2, "data.resolution=16",
                                             f"train.init_from={tmp_path / 'conv'}"]))
    assert "8x8 model" in str(e.value) and "data.resolution is 16" in str(e.value)
    assert "set data.resolution=8" in str(e.value)
    with pytest.raises(MsganError, match="holds a stylegan2 model, this run trains dcgan"):
        init_from.prepare(load_config(None, [*DCGAN, f"train.init_from={tmp_path / 'conv'}"]))
    (tmp_path / "conv" / "G.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(MsganError, match="not a readable MindSpore checkpoint"):
        fine_tune([*SG2, "data.channels=3"], tmp_path / "conv")


def test_a_remaining_shape_mismatch_names_the_parameter_and_both_shapes(tmp_path):
    make_converted(tmp_path / "conv", config(SG2))
    cfg = load_config(None, [*SG2, f"train.init_from={tmp_path / 'conv'}"])
    cfg, source = init_from.prepare(cfg)
    source.meta["model_cfg"]["channel_max"] = 8     # a meta that lies about the weights
    cfg, _ = init_from.take_architecture(cfg, source.meta)
    ph = build_phases(cfg, 0)
    with pytest.raises(MsganError) as e:
        init_from.load(ph, source, (), 3)
    msg = str(e.value)
    assert "G.synthesis.b4.const has shape (16, 4, 4) in the source" in msg
    assert "needs (8, 4, 4)" in msg and "\n" not in msg


# ----------------------------------------------------------------------------------------------
# Freeze-D

def test_freeze_d_keeps_the_first_blocks_fixed(tmp_path):
    # path-length regularisation off: it steps G only, and compiling it is a quarter of the test
    ph = build_phases(config(SG2, "data.resolution=16", "model.freeze_d=1",
                             "model.augment=noaug", "model.pl_weight=0"), 0)
    before = params(ph.D)
    rng = np.random.default_rng(0)
    for it in range(2):
        reals = rng.uniform(-1, 1, (B, 3, 16, 16)).astype(np.float32)
        ph.step((reals, np.zeros(B, np.int32)), it, Progress(it * B, 10 * B))
    after = params(ph.D)
    frozen = [n for n in before if n.startswith("blocks.0.")]
    trained = [n for n in before if n.startswith(("blocks.1.", "epilogue."))]
    assert frozen and trained
    for n in frozen:
        np.testing.assert_array_equal(after[n], before[n], err_msg=n)
    assert all(not np.array_equal(after[n], before[n]) for n in trained if "weight" in n)


def test_freeze_d_is_validated_against_the_number_of_blocks():
    with pytest.raises(MsganError, match="model.freeze_d is 3 — D has 2 blocks at 16x16"):
        config(SG2, "data.resolution=16", "model.freeze_d=3")
    with pytest.raises(MsganError, match="freeze_d is -1"):
        config(SG2, "model.freeze_d=-1")


def test_dcgan_freeze_d_keeps_the_first_conv_blocks_fixed():
    with pytest.raises(MsganError, match="freeze_d is 4 — D has 3 conv blocks at 32x32"):
        config(DCGAN, "model.freeze_d=4")
    ph = build_phases(config(DCGAN, "model.freeze_d=1", "model.augment=none"), 0)
    before = params(ph.D)
    rng = np.random.default_rng(0)
    for it in range(2):
        reals = rng.uniform(-1, 1, (B, 3, 32, 32)).astype(np.float32)
        ph.step((reals, np.zeros(B, np.int32)), it, Progress(it * B, 10 * B))
    after = params(ph.D)
    for n in ("features.0.weight", "features.0.bias"):          # level 0: conv + LeakyReLU
        np.testing.assert_array_equal(after[n], before[n], err_msg=n)
    for n in ("features.2.weight", "features.3.gamma", "out.weight"):
        assert not np.array_equal(after[n], before[n]), n


# ----------------------------------------------------------------------------------------------
# DCGAN from a msgan snapshot

def run_snapshot(run, cfg, nimg, seed, classes=()):
    """A msgan run folder as training leaves it after ``nimg`` images (its snapshot written by
    the run's own save_snapshot), from freshly built, perturbed nets: (snapshot path, phases)."""
    np.random.seed(seed)
    ph = build_phases(cfg, len(classes))
    perturb([ph.G, ph.D, ph.G_ema], seed)
    meta = build_meta(cfg, tuple(classes), B)
    meta["kimg"] = nimg / 1000
    return checkpoint.save_snapshot(str(run / "checkpoints"), nimg, ph.state_cells(),
                                    {"cur_nimg": nimg}, meta), ph


def dcgan_snapshot(tmp_path, classes=(), channels=3):
    return run_snapshot(tmp_path / "src", config(DCGAN, channels=channels), 500, 3, classes)


def dcgan_images(G, z, c):
    G.set_train(False)
    return G(Tensor(z), Tensor(np.asarray(c, np.int32))).asnumpy()


def test_dcgan_from_a_msgan_run_loads_everything(tmp_path):
    snap, src = dcgan_snapshot(tmp_path)
    ph, info = fine_tune([*DCGAN, "data.channels=3", "model.ngf=8"], tmp_path / "src")
    assert info["kind"] == "run" and info["snapshot"] == snap and info["source_kimg"] == 0.5
    assert ph.cfg.model.ngf == 4 and ph.cfg.model.ndf == 4
    for key in ("G", "D", "G_ema"):
        mine, theirs = params(ph.state_cells()[key]), params(src.state_cells()[key])
        for name in theirs:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=f"{key}.{name}")
    z = latents()
    np.testing.assert_allclose(dcgan_images(ph.G_ema, z, np.zeros(B)),
                               dcgan_images(src.G_ema, z, np.zeros(B)), atol=1e-6)


def test_a_run_folder_means_the_snapshot_that_wrote_its_data(tmp_path):
    """A run's last snapshot can be worse than its best (a pretraining run that collapsed after
    its best KID): from a run folder, init_from loads the model the run recorded — the one
    ``msgan generate --model RUN`` uses — and the newest snapshot only when there is no record."""
    from msgan import snapshots
    cfg = config(DCGAN)
    best, src_best = run_snapshot(tmp_path / "src", cfg, 500, 3)
    newest, src_newest = run_snapshot(tmp_path / "src", cfg, 1000, 4)
    snapshots.record_run_model(str(tmp_path / "src" / "checkpoints"), best,
                               "the best by KID (0.01), which wrote Data/")
    z = latents()

    def starts_from(want, src):
        ph, info = fine_tune([*DCGAN, "data.channels=3"], tmp_path / "src")
        assert info["kind"] == "run" and info["snapshot"] == want
        np.testing.assert_allclose(dcgan_images(ph.G_ema, z, np.zeros(B)),
                                   dcgan_images(src.G_ema, z, np.zeros(B)), atol=1e-6)

    starts_from(best, src_best)
    os.remove(tmp_path / "src" / "checkpoints" / snapshots.RUN_MODEL)
    starts_from(newest, src_newest)


def test_dcgan_unconditional_source_class_batchnorm_target(tmp_path):
    _, src = dcgan_snapshot(tmp_path)
    snap = os.path.join(tmp_path, "src", "checkpoints", "snapshot-000000500")
    ph, info = fine_tune([*DCGAN, "data.channels=3"], snap, classes=("a", "b"))
    assert info["kind"] == "snapshot"
    assert "G.embed.embed" in info["fresh"] and "D.embed.embed" in info["fresh"]
    z = latents()
    want = dcgan_images(src.G_ema, z, np.zeros(B))
    for k in (0, 1):       # per-class BatchNorm starts as the source's plain BatchNorm
        np.testing.assert_allclose(dcgan_images(ph.G_ema, z, np.full(B, k)), want, atol=1e-5)


def test_dcgan_grey_target_from_an_rgb_run(tmp_path):
    _, src = dcgan_snapshot(tmp_path)
    ph, info = fine_tune([*DCGAN, "data.channels=1"], tmp_path / "src")
    assert "luma" in info["adapted"][0]
    x = np.random.default_rng(1).uniform(-1, 1, (B, 1, 32, 32)).astype(np.float32)
    c = Tensor(np.zeros(B, np.int32))
    ph.D.set_train(False)
    src.D.set_train(False)
    np.testing.assert_allclose(ph.D(Tensor(x), c).asnumpy(),
                               src.D(Tensor(np.repeat(x, 3, axis=1)), c).asnumpy(),
                               rtol=1e-4, atol=1e-5)


GAN = ["model.name=gan", "model.z_dim=8", "model.g_hidden=[16]", "model.d_hidden=[16]",
       "model.d_dropout=0.0", "data.resolution=8", f"train.batch_size={B}"]


def test_mlp_gan_from_a_snapshot_with_classes_and_grey_added(tmp_path):
    snap, src = run_snapshot(tmp_path / "src", config(GAN), 100, 5)
    ph, info = fine_tune([*GAN, "data.channels=1"], snap, classes=("a", "b"))
    assert info["kind"] == "snapshot" and "G.embed.embed" in info["fresh"]
    assert ph.G.net[0].weight.shape == (16, 8 + 32)
    z = latents()
    src.G_ema.set_train(False)
    ph.G_ema.set_train(False)
    want = src.G_ema(Tensor(z), Tensor(np.zeros(B, np.int32))).asnumpy()
    got = ph.G_ema(Tensor(z), Tensor(np.ones(B, np.int32))).asnumpy()
    # the output layer's rows are combined before its Tanh: the luma of the pre-activations
    pre = np.arctanh(np.clip(want, -0.999999, 0.999999))
    luma = np.tanh(np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), pre,
                                axes=([0], [1])))[:, None]
    np.testing.assert_allclose(got, luma, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Through the CLI: a msgan run as the source, a grey class folder as the target, then resumed

def image_folder(root, classes, per_class=4, seed=0):
    """RGB squares of random colours; ``classes`` empty: one single-level folder."""
    rng = np.random.default_rng(seed)
    for name in classes or ("",):
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            a = np.full((12, 12, 3), rng.integers(0, 255, 3), np.uint8)
            a[3:9, 3:9] = rng.integers(0, 255, 3)
            Image.fromarray(a).save(root / name / f"{i}.png")
    return root


TINY_RUN = ["data.resolution=8", f"train.batch_size={B}", "train.progress=false",
            "metrics.extractor=none", "metrics.benefit_check=false", "generate.generate_num=2",
            "generate.min_class_images=0", "generate.filter=none", "train.export=[]"]


def test_fine_tune_a_msgan_run_through_the_cli(tmp_path):
    # the source run's folder without training it: a StyleGAN2 run in a subprocess is half a
    # minute of graph compiling, and the fine-tune below compiles twice already
    source = tmp_path / "source"
    run_snapshot(source, load_config(os.path.join(ROOT, "configs/stylegan2_cpu.yaml"),
                                     [*TINY_RUN, "data.channels=3", "model.z_dim=16",
                                      "model.w_dim=16", "model.channel_base=64",
                                      "model.channel_max=16"]), 8, 2)
    out = tmp_path / "tuned"
    target = image_folder(tmp_path / "small", ("a", "b"), seed=1)
    args = ["train", "configs/stylegan2_cpu.yaml", *TINY_RUN, "data.channels=1",
            f"data.path={target}", f"output_dir={out}", f"train.init_from={source}",
            "model.freeze_d=1", "train.snapshot_kimg=0.004"]
    r = run_msgan(*args, "train.total_kimg=0.008")
    assert r.returncode == 0, r.stderr[-3000:]
    log_text = (out / "log.txt").read_text()
    taken = [line for line in log_text.splitlines() if "taken from init_from" in line]
    assert len(taken) == 1
    assert "model.z_dim 64 → 16" in taken[0] and "model.channel_base 1024 → 64" in taken[0]
    assert log_text.count("started from") == 1
    cfg = load_config(str(out / "config.yaml"))
    assert cfg.train.init_from == str(source) and cfg.model.channel_base == 64
    assert cfg.model.z_dim == 16 and cfg.model.freeze_d == 1
    rows = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    info = rows[0]["init_from"]
    assert info["kind"] == "run" and info["source_kimg"] == pytest.approx(0.008)
    assert info["path"] == str(source) and info["snapshot"].startswith(str(source))
    assert "G.mapping.embed" in info["fresh"] and any("luma" in a for a in info["adapted"])
    assert all("init_from" not in row for row in rows[1:])
    assert "Started from" in (out / "report.html").read_text()
    # resumed: the fine-tune's own snapshot, not the source again
    r = run_msgan(*args, "train.total_kimg=0.012", "train.resume=auto")
    assert r.returncode == 0, r.stderr[-3000:]
    log_text = (out / "log.txt").read_text()
    assert "train.resume wins over train.init_from" in log_text
    rows = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["kimg"] == pytest.approx(0.012)
    assert [("init_from" in row) for row in rows] == [True] + [False] * (len(rows) - 1)


def test_cli_bad_init_from_is_one_line_exit_2(tmp_path):
    r = run_msgan("train", "configs/stylegan2_cpu.yaml", *TINY_RUN,
                  f"data.path={image_folder(tmp_path / 'd', ())}", f"output_dir={tmp_path / 'o'}",
                  f"train.init_from={tmp_path / 'missing'}")
    assert r.returncode == 2
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert err[-1].startswith("msgan: error: train.init_from=") and "does not exist" in err[-1]
    assert "Traceback" not in r.stderr
