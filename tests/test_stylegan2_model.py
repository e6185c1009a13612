"""StyleGAN2 G and D: shapes at every resolution, conditioning, truncation, export."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan.config import StyleGAN2Config, load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.models import stylegan2  # noqa: E402
from msgan import nn  # noqa: E402
from msgan.nn import MinibatchStd  # noqa: E402

# Narrow enough to build at 256² in a second: widths 16, 16, 16, 16, 8, 4, 2 from 4² to 256².
NARROW = StyleGAN2Config(z_dim=8, w_dim=8, channel_base=512, channel_max=16)


def inputs(n, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    z = Tensor(rng.standard_normal((n, NARROW.z_dim)).astype(np.float32))
    c = Tensor((np.arange(n) % max(num_classes, 1)).astype(np.int32))
    return z, c


# every depth up to 256² would repeat the same blocks at ~15 s each (PyNative on CPU): the
# smallest, the deepest and some between, conditional and not
@pytest.mark.parametrize("resolution,num_classes", [(8, 0), (16, 3), (32, 0), (64, 3), (256, 0)])
def test_shapes_at_every_resolution(resolution, num_classes):
    G, D = stylegan2.build(NARROW, resolution, 3, num_classes)
    z, c = inputs(3, num_classes)          # 3 is not a multiple of mbstd_group=4
    img = G(z, c)
    assert img.shape == (3, 3, resolution, resolution) and img.dtype == ms.float32
    assert np.isfinite(img.asnumpy()).all()
    logits = D(img, c)
    assert logits.shape == (3,) and np.isfinite(logits.asnumpy()).all()
    assert G.num_ws == 2 * int(np.log2(resolution)) - 2      # SG2A: 14 at 256²
    assert (G.z_dim, G.num_classes, G.resolution, G.channels) == (8, num_classes, resolution, 3)
    assert G.w_avg.shape == (8,) and not G.w_avg.requires_grad


def test_greyscale_and_graph_mode():
    G, D = stylegan2.build(NARROW, 16, 1, 0)
    z, c = inputs(2, 0)
    img = ms.jit(G.construct)(z, c)
    assert img.shape == (2, 1, 16, 16)
    assert ms.jit(D.construct)(img, c).shape == (2,)


def test_channel_widths_follow_channel_base():
    cfg = StyleGAN2Config(channel_base=16384, channel_max=512)
    widths = {r: stylegan2.channels_at(cfg, r) for r in (4, 32, 64, 256, 1024)}
    assert widths == {4: 512, 32: 512, 64: 256, 256: 64, 1024: 16}


def test_labels_change_the_output_of_conditional_models():
    G, D = stylegan2.build(NARROW, 8, 3, 4)
    z, _ = inputs(2, 4)
    net = stylegan2.export_net(G)
    psi = Tensor(np.ones(2, np.float32))
    a = net(z, Tensor(np.array([0, 0], np.int32)), psi).asnumpy()
    b = net(z, Tensor(np.array([3, 3], np.int32)), psi).asnumpy()
    assert np.abs(a - b).mean() > 1e-3
    img = Tensor(a)
    assert not np.allclose(D(img, Tensor(np.array([0, 0], np.int32))).asnumpy(),
                           D(img, Tensor(np.array([3, 3], np.int32))).asnumpy())


def test_export_net_is_deterministic_and_truncates():
    G, _ = stylegan2.build(NARROW, 16, 3, 0)
    G.w_avg.set_data(Tensor(np.full((8,), 0.3, np.float32)))
    net = stylegan2.export_net(G)
    z, _ = inputs(4, 0)
    psi = Tensor(np.ones(4, np.float32))
    a, b = net(z, psi).asnumpy(), net(z, psi).asnumpy()
    assert a.shape == (4, 3, 16, 16) and np.array_equal(a, b)
    assert a.min() >= -1.0 and a.max() <= 1.0
    # psi = 0 maps every z to w_avg: with constant noise all images are the same.
    same = net(z, Tensor(np.zeros(4, np.float32))).asnumpy()
    assert np.abs(same - same[:1]).max() < 1e-6
    assert np.abs(a - a[:1]).max() > 1e-3


def test_export_to_mindir_and_onnx_reproduces_the_cell(tmp_path):
    from msgan.export import export_generator
    G, _ = stylegan2.build(NARROW, 8, 3, 2)
    meta = {"model": "stylegan2", "z_dim": 8, "num_classes": 2, "resolution": 8, "channels": 3,
            "batch": 2, "inputs": ["z", "c", "psi"]}
    results = export_generator(stylegan2.export_net(G), meta, str(tmp_path / "g"))
    for fmt in ("mindir", "onnx"):
        assert results[fmt]["ok"], results[fmt]
        assert results[fmt]["max_abs_diff"] <= 1e-4


def test_minibatch_std_matches_numpy_with_uneven_batches():
    x = np.random.default_rng(1).standard_normal((6, 4, 2, 2)).astype(np.float32)
    out = MinibatchStd(4)(Tensor(x)).asnumpy()          # group 3: largest divisor of 6 <= 4
    g = 3
    y = x.reshape(g, 6 // g, 1, 4, 2, 2)
    std = np.sqrt(((y - y.mean(0)) ** 2).mean(0) + 1e-8).mean(axis=(2, 3, 4))   # (2, 1)
    expect = np.tile(std.reshape(2, 1, 1, 1), (g, 1, 2, 2))
    assert out.shape == (6, 5, 2, 2)
    np.testing.assert_allclose(out[:, 4:], expect, rtol=1e-5)
    np.testing.assert_array_equal(out[:, :4], x)


def test_build_rejects_unusable_settings():
    with pytest.raises(MsganError, match="channel_base"):
        stylegan2.build(StyleGAN2Config(channel_base=64), 128, 3, 0)
    with pytest.raises(MsganError, match="resolution"):
        stylegan2.build(NARROW, 4, 3, 0)


@pytest.mark.parametrize("path", ["configs/stylegan2.yaml", "configs/stylegan2_cpu.yaml"])
def test_configs_load(path):
    cfg = load_config(path)
    assert cfg.model.name == "stylegan2"
    assert cfg.train.G_opt.betas == [0.0, 0.99] and cfg.train.D_opt.lr == 0.0025
    if path.endswith("_cpu.yaml"):
        assert cfg.data.path == "builtin:digits" and cfg.data.resolution <= 32
    else:
        assert (cfg.data.resolution, cfg.train.batch_size, cfg.train.total_kimg) == (256, 8, 300)
        assert cfg.generate.generate_num == 300 and cfg.generate.predict is False
        assert cfg.model.mapping_layers == 2 and cfg.train.ema_rampup == 0.05


def _native(cell):
    for _, c in cell.cells_and_names():
        if "mm" in c.__dict__:
            c.mm = False
    return cell


@pytest.mark.parametrize("make, with_styles", [
    (lambda: nn.Blur(6, (2, 1), gain=4.0), False),
    (lambda: nn.Blur(6, (1, 1), down=2), False),
    (lambda: nn.Upsample2d(6), False),
    (lambda: nn.EqualConv2d(6, 5, 3, activation="lrelu"), False),
    (lambda: nn.EqualConv2d(6, 5, 3, down=2), False),
    (lambda: nn.EqualConv2d(6, 5, 1, bias=False, down=2), False),
    (lambda: nn.ModulatedConv2d(6, 5, 3), True),
    (lambda: nn.ModulatedConv2d(6, 5, 3, up=2), True),
])
def test_cpu_matmul_lowering_matches_native_convolutions(make, with_styles):
    """On CPU the convs/FIRs run as Gather + MatMul; they must equal MindSpore's conv kernels."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 6, 8, 8)).astype(np.float32))
    args = (x, Tensor(rng.uniform(0.5, 1.5, (2, 6)).astype(np.float32))) if with_styles else (x,)
    np.random.seed(1)
    fast = make()
    np.random.seed(1)
    native = _native(make())
    np.testing.assert_allclose(fast(*args).asnumpy(), native(*args).asnumpy(), atol=2e-6)
