"""pix2pix / CycleGAN / DiscoGAN networks: shapes, instance norm, reflect pad, export parity."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from mindspore import Tensor  # noqa: E402

from msgan.config import load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.inference.export import export_generator  # noqa: E402
from msgan.models import cyclegan, discogan, pix2pix  # noqa: E402
from msgan.models.norm import InstanceNorm2d, norm_layer  # noqa: E402
from msgan.models.patchgan import PatchGAN, patch_size, receptive_field  # noqa: E402
from msgan.models.translate_layers import ReflectPad2d  # noqa: E402

MODULES = {"pix2pix": pix2pix, "cyclegan": cyclegan, "discogan": discogan}
TINY = {"pix2pix": ["model.d_layers=2"], "cyclegan": ["model.d_layers=2", "model.n_blocks=1"],
        "discogan": []}


def model_cfg(name, resolution, extra=()):
    return load_config(None, [f"model.name={name}", "model.ngf=8", "model.ndf=8",
                              f"data.resolution={resolution}", *TINY[name], *extra]).model


def images(n, channels, resolution, seed=0):
    rng = np.random.default_rng(seed)
    return Tensor(rng.uniform(-1, 1, (n, channels, resolution, resolution)).astype(np.float32))


# one size for the slow-to-run CycleGAN/DiscoGAN nets (PyNative on CPU), RGB and greyscale
@pytest.mark.parametrize("name, resolution", [("pix2pix", 16), ("pix2pix", 32), ("cyclegan", 16),
                                              ("discogan", 32)])
def test_shapes(name, resolution):
    channels = 3 if resolution == 16 else 1
    nets = MODULES[name].build(model_cfg(name, resolution), resolution, channels)
    x = images(2, channels, resolution)
    gens = MODULES[name].GENERATORS
    assert set(gens) <= set(nets) and len(nets) == 2 * len(gens)
    for g in gens:
        y = nets[g](x)
        assert y.shape == (2, channels, resolution, resolution)
        assert np.abs(y.asnumpy()).max() <= 1.0                       # tanh output
    side = patch_size(resolution, 2)
    if name == "pix2pix":
        assert nets["D"](x, y).shape == (2, 1, side, side)             # conditional PatchGAN
    elif name == "cyclegan":
        assert nets["D_A"](x).shape == nets["D_B"](y).shape == (2, 1, side, side)
    else:
        logits, feats = nets["D_A"](x)
        assert logits.shape == (2,)
        n_levels = int(np.log2(resolution)) - 2
        assert [f.shape[2] for f in feats] == [resolution // 2 ** k for k in range(2, n_levels + 1)]


def test_unet_reaches_a_1x1_bottleneck_and_caps_at_8_downs():
    assert pix2pix.generator(model_cfg("pix2pix", 32), 32, 3).n_downs == 5
    assert pix2pix.generator(model_cfg("pix2pix", 16), 512, 3).n_downs == 8


def test_patchgan_receptive_field_and_depth_check():
    assert receptive_field(3) == 70 and patch_size(256, 3) == 30       # the paper's 70x70, 30x30
    with pytest.raises(MsganError, match="d_layers=3 is too deep for resolution 16"):
        PatchGAN(3, 8, 3, "batch", 16)


def test_instance_norm_matches_numpy():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 3, 5, 4)) * 3 + 2).astype(np.float32)
    mean = x.mean(axis=(2, 3), keepdims=True)
    ref = (x - mean) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(InstanceNorm2d(3)(Tensor(x)).asnumpy(), ref, atol=1e-5)
    affine = InstanceNorm2d(3, affine=True)
    affine.gamma.set_data(Tensor(np.array([1.0, 2.0, -1.0], np.float32)))
    affine.beta.set_data(Tensor(np.array([0.0, 0.5, 1.0], np.float32)))
    gamma, beta = np.array([1, 2, -1]), np.array([0, 0.5, 1])
    expected = ref * gamma.reshape(1, 3, 1, 1) + beta.reshape(1, 3, 1, 1)
    np.testing.assert_allclose(affine(Tensor(x)).asnumpy(), expected, atol=1e-5)
    assert isinstance(norm_layer("batch", 3), ms.nn.BatchNorm2d)
    with pytest.raises(MsganError, match="use batch or instance"):
        norm_layer("group", 3)


def test_reflect_pad_matches_numpy():
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 6)).astype(np.float32)
    np.testing.assert_array_equal(ReflectPad2d(3)(Tensor(x)).asnumpy(),
                                  np.pad(x, ((0, 0), (0, 0), (3, 3), (3, 3)), mode="reflect"))


@pytest.mark.parametrize("name, norm", [("pix2pix", "batch"), ("cyclegan", "instance"),
                                        ("discogan", None)])
def test_generator_exports_with_parity(tmp_path, name, norm):
    """Export and reload each generator in eval mode, with trained-like BatchNorm statistics:
    instance norm, reflect pad as Gather, the cropped 3x3 up-conv, dropout, skip concatenations."""
    resolution, channels = 16, 3 if name == "cyclegan" else 1
    ms.set_seed(3)
    cfg = model_cfg(name, resolution, [f"model.norm={norm}"] if norm else [])
    G = MODULES[name].build(cfg, resolution, channels)[MODULES[name].GENERATORS[-1]]
    G.set_train(True)
    for _ in range(2):                           # move BatchNorm's running stats off 0 / 1
        G(images(4, channels, resolution, seed=5))
    net = MODULES[name].export_net(G)
    last = [p for p in G.trainable_params() if p.name.endswith("weight")][-1]
    x = images(2, channels, resolution)
    while np.abs(net(x).asnumpy()).max() < 0.5:  # outputs of order 1, so parity means something
        last.set_data(last * 10.0)
    assert not net.training
    meta = {"model": name, "inputs": ["x"], "batch": 2,
            "input_shape": [channels, resolution, resolution]}
    result = export_generator(net, meta, str(tmp_path / name))
    for fmt in ("mindir", "onnx"):
        r = result[fmt]
        assert r["ok"], r
        assert r["max_abs_diff"] <= 1e-4 and r["reference_abs_max"] > 0.3, r
