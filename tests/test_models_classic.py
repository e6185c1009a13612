"""Shapes and options of the MLP GAN and DCGAN Cells."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan.models import MODELS  # noqa: E402
from msgan.models.dcgan import SMALL_DATA_IMAGES, DCGANConfig  # noqa: E402
from msgan.models.mlp_gan import MLPGANConfig  # noqa: E402


def _inputs(z_dim, n=3, num_classes=4):
    rng = np.random.default_rng(0)
    return (Tensor(rng.standard_normal((n, z_dim)).astype(np.float32)),
            Tensor(rng.integers(0, max(num_classes, 1), n).astype(np.int32)))


@pytest.mark.parametrize("resolution", [32, 64, 128])
@pytest.mark.parametrize("num_classes", [0, 4])
def test_dcgan_shapes(resolution, num_classes):
    cfg = DCGANConfig(z_dim=16, ngf=4, ndf=4)
    G, D = MODELS["dcgan"].build(cfg, resolution, 3, num_classes)
    z, c = _inputs(16, num_classes=num_classes)
    x = G(z, c)
    assert x.shape == (3, 3, resolution, resolution)
    assert float(ops_abs_max(x)) <= 1.0
    assert D(x, c).shape == (3,)


def ops_abs_max(x):
    return np.abs(x.asnumpy()).max()


@pytest.mark.parametrize("options", [
    dict(upsample="resize_conv"), dict(minibatch_discrimination=True, mbd_kernels=5),
    dict(d_dropout=0.3), dict(z_dist="uniform"), dict(g_cond="cbn"),
    dict(g_cond="cbn", upsample="resize_conv"),
])
def test_dcgan_options_keep_shapes(options):
    cfg = DCGANConfig(z_dim=8, ngf=4, ndf=4, **options)
    G, D = MODELS["dcgan"].build(cfg, 32, 1, 3)
    z, c = _inputs(8, num_classes=3)
    x = G(z, c)
    assert x.shape == (3, 1, 32, 32)
    assert D(x, c).shape == (3,)


def test_resize_conv_is_nearest_upsample_then_conv():
    """ResizeConv2d runs as one transposed conv; its output and gradients (input and weight)
    must be those of a nearest 2x upsample followed by a 3x3, padding-1 conv."""
    from msgan.models.layers import ResizeConv2d
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 5, 3, 3)).astype(np.float32)
    x = rng.standard_normal((2, 5, 6, 6)).astype(np.float32)
    dy = Tensor(rng.standard_normal((2, 7, 12, 12)).astype(np.float32))
    conv = ms.nn.Conv2d(5, 7, 3, 1, pad_mode="pad", padding=1, has_bias=False,
                        weight_init=Tensor(w))
    upsampled = Tensor(x.repeat(2, axis=2).repeat(2, axis=3))
    layer = ResizeConv2d(5, 7, Tensor(w))

    def grads(net, inp):
        def loss(t):                  # a named function: graph mode cannot parse this lambda
            return (net(t) * dy).sum()
        return ms.value_and_grad(loss, 0, net.trainable_params())(inp)

    (ref_out, (ref_dx_up, (ref_dw,))) = conv(upsampled), grads(conv, upsampled)[1]
    out, (dx, (dw,)) = layer(Tensor(x)), grads(layer, Tensor(x))[1]
    assert out.shape == (2, 7, 12, 12)
    np.testing.assert_allclose(out.asnumpy(), ref_out.asnumpy(), atol=1e-4)
    np.testing.assert_allclose(dw.asnumpy(), ref_dw.asnumpy(), rtol=1e-4, atol=1e-3)
    # the upsample's gradient sums each 2x2 block back onto its input pixel
    ref_dx = ref_dx_up.asnumpy().reshape(2, 5, 6, 2, 6, 2).sum(axis=(3, 5))
    np.testing.assert_allclose(dx.asnumpy(), ref_dx, rtol=1e-4, atol=1e-3)


def test_minibatch_discrimination_changes_d():
    """With MBD on, D's output for one sample depends on the rest of the batch."""
    cfg = DCGANConfig(z_dim=8, ngf=4, ndf=4, minibatch_discrimination=True, mbd_kernels=4)
    ms.set_seed(0)
    _, D = MODELS["dcgan"].build(cfg, 32, 1, 0)
    D.set_train(False)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (4, 1, 32, 32)).astype(np.float32)
    c = Tensor(np.zeros(4, np.int32))
    a = D(Tensor(x), c).asnumpy()[0]
    x2 = x.copy()
    x2[1:] = x[0]               # everyone else identical to sample 0
    b = D(Tensor(x2), c).asnumpy()[0]
    assert abs(a - b) > 1e-6


@pytest.mark.parametrize("resolution", [8, 16, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_mlp_gan_shapes(resolution, channels):
    cfg = MLPGANConfig(z_dim=8, g_hidden=[16, 32], d_hidden=[32, 16])
    G, D = MODELS["gan"].build(cfg, resolution, channels, 2)
    z, c = _inputs(8, num_classes=2)
    x = G(z, c)
    assert x.shape == (3, channels, resolution, resolution)
    assert D(x, c).shape == (3,)


def test_conditional_generator_uses_the_class():
    ms.set_seed(0)
    G, _ = MODELS["dcgan"].build(DCGANConfig(z_dim=8, ngf=4, ndf=4), 32, 1, 3)
    G.set_train(False)
    z = Tensor(np.ones((2, 8), np.float32))
    out = G(z, Tensor(np.array([0, 2], np.int32))).asnumpy()
    assert np.abs(out[0] - out[1]).max() > 1e-6


def test_class_batchnorm_is_batchnorm_at_init_and_then_per_class():
    """Zero offsets start as plain BatchNorm; a class's scale and shift touch only its samples."""
    from msgan.models.dcgan import ClassBatchNorm
    norm = ClassBatchNorm(3, num_classes=2)
    norm.set_train(True)
    x = np.random.default_rng(0).standard_normal((4, 3, 2, 2)).astype(np.float32)
    c = Tensor(np.array([0, 1, 0, 1], np.int32))
    plain = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
        x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(norm(Tensor(x), c).asnumpy(), plain, atol=1e-4)
    norm.gamma.embedding_table.set_data(Tensor(np.array([[0, 0, 0], [1, 1, 1]], np.float32)))
    norm.beta.embedding_table.set_data(Tensor(np.array([[0, 0, 0], [0, 0, 5]], np.float32)))
    out = norm(Tensor(x), c).asnumpy()
    np.testing.assert_allclose(out[[0, 2]], plain[[0, 2]], atol=1e-4)        # class 0 untouched
    expected = 2 * plain[[1, 3]]
    expected[:, 2] += 5
    np.testing.assert_allclose(out[[1, 3]], expected, atol=1e-4)


def test_cbn_generator_learns_class_offsets_and_falls_back_without_classes():
    ms.set_seed(0)
    G, _ = MODELS["dcgan"].build(DCGANConfig(z_dim=8, ngf=4, ndf=4, g_cond="cbn"), 32, 1, 3)
    names = [p.name for p in G.trainable_params()]
    assert sum(n.startswith("norms.") and n.endswith("embedding_table") for n in names) == 6

    def loss(z, c):
        return G(z, c).sum()
    z, c = _inputs(8, num_classes=3)
    grads = ms.value_and_grad(loss, None, G.trainable_params())(z, c)[1]
    offsets = [g for n, g in zip(names, grads) if n.startswith("norms.")]
    assert all(np.abs(g.asnumpy()).sum() > 0 for g in offsets)
    G0, _ = MODELS["dcgan"].build(DCGANConfig(z_dim=8, ngf=4, ndf=4, g_cond="cbn"), 32, 1, 0)
    assert not any("embedding_table" in p.name and p.name.startswith("norms.")
                   for p in G0.trainable_params())
    assert G0(z, c).shape == (3, 1, 32, 32)


def test_export_net_inputs():
    G, _ = MODELS["dcgan"].build(DCGANConfig(z_dim=8, ngf=4, ndf=4), 32, 1, 0)
    net = MODELS["dcgan"].export_net(G)
    z = Tensor(np.zeros((2, 8), np.float32))
    assert net(z).shape == (2, 1, 32, 32)
    Gc, _ = MODELS["dcgan"].build(DCGANConfig(z_dim=8, ngf=4, ndf=4), 32, 1, 3)
    netc = MODELS["dcgan"].export_net(Gc)
    assert netc(z, Tensor(np.array([0, 1], np.int32))).shape == (2, 1, 32, 32)


def test_dcgan_auto_ndf_follows_the_data_size_and_other_models_have_no_auto():
    cfg = DCGANConfig(ngf=32)
    small, note = cfg.with_data(SMALL_DATA_IMAGES - 1)
    assert small.ndf == 16 and cfg.ndf is None
    assert note == "model.ndf: auto → 16 (fewer than 1000 training images)"
    large, note = cfg.with_data(SMALL_DATA_IMAGES)
    assert large.ndf == 32 and note == "model.ndf: auto → 32 (at least 1000 training images)"
    assert DCGANConfig(ngf=8).with_data(10)[0].ndf == 8                   # never below 8
    fixed = DCGANConfig(ngf=32, ndf=24)
    assert fixed.with_data(10) == (fixed, None)
    for name, spec in MODELS.items():
        if name != "dcgan":
            model_cfg = spec.config()
            assert model_cfg.with_data(10) == (model_cfg, None)
