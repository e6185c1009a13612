"""StyleGAN2 G and D: shapes at every resolution, conditioning, truncation, export."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
ms.set_context(mode=ms.GRAPH_MODE)      # as every msgan command runs (runtime.select_device)
from mindspore import Tensor, ops  # noqa: E402

from msgan.config import load_config  # noqa: E402
from msgan.errors import MsganError  # noqa: E402
from msgan.models import stylegan2  # noqa: E402
from msgan.models import sg2_layers as nn  # noqa: E402
from msgan.models.sg2_layers import MinibatchStd  # noqa: E402
from msgan.models.stylegan2 import StyleGAN2Config  # noqa: E402

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
    from msgan.inference.export import export_generator
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


# -- the convolution path every device runs, against an independent float64 numpy reference ----
# SG2A's definitions written out in numpy (correlation convs, upfirdn2d = zero insertion, zero
# pad, true convolution with the FIR, subsampling; transposed conv = scatter-add), with first-
# and second-order gradients by central finite differences. R1 differentiates D's convs twice
# (d/dw ||d/dx D||^2), the path length differentiates the modulated convs twice (through the
# styles); both are checked here on one small layer each, compiled with ms.jit as in training.

def np_conv(x, w, stride=1, pad=0, groups=1):
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    xg, wg = x.reshape(n, groups, c // groups, h, wd), w.reshape(groups, o // groups, cg, kh, kw)
    out = np.zeros((n, groups, o // groups, ho, wo))
    for a in range(kh):
        for b in range(kw):
            patch = xg[..., a:a + stride * (ho - 1) + 1:stride, b:b + stride * (wo - 1) + 1:stride]
            out += np.einsum("ngchw,goc->ngohw", patch, wg[..., a, b])
    return out.reshape(n, o, ho, wo)


def np_upfirdn(x, up=1, down=1, pad=(0, 0), gain=1.0, taps=(1, 3, 3, 1)):
    n, c, h, w = x.shape
    if up > 1:
        y = np.zeros((n, c, h * up, w * up))
        y[:, :, ::up, ::up] = x
        x = y
    x = np.pad(x, ((0, 0), (0, 0), pad, pad))
    t = np.asarray(taps, np.float64)
    f = np.outer(t, t) / t.sum() ** 2 * gain
    y = np_conv(x.reshape(-1, 1, *x.shape[2:]), f[::-1, ::-1][None, None].copy())
    return y.reshape(n, c, *y.shape[2:])[:, :, ::down, ::down]


def np_conv_transpose2x(x, w):
    """torch conv_transpose2d(x, w.transpose(0, 1), stride=2): SG2A's up=2 fast path."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    out = np.zeros((n, o, 2 * (h - 1) + k, 2 * (wd - 1) + k))
    for a in range(k):
        for b in range(k):
            out[:, :, a:a + 2 * h - 1:2, b:b + 2 * wd - 1:2] += np.einsum("nchw,oc->nohw", x,
                                                                          w[:, :, a, b])
    return out


def np_lrelu(x):
    return np.where(x > 0, x, 0.2 * x) * np.sqrt(2.0)


def ref_down_conv(x, s, w):      # EqualConv2d(2, 3, 3, activation="lrelu", down=2), zero bias
    return np_lrelu(np_conv(np_upfirdn(x, pad=(2, 2)), w / np.sqrt(w[0].size), stride=2))


def ref_skip(x, s, w):           # EqualConv2d(2, 3, 1, bias=False, down=2)
    return np_conv(np_upfirdn(x, down=2, pad=(1, 1)), w / np.sqrt(w[0].size))


def ref_modconv_up(x, s, w):     # ModulatedConv2d(2, 3, 3, up=2): modulate, demodulate
    y = np_upfirdn(np_conv_transpose2x(x * s[:, :, None, None], w), pad=(1, 1), gain=4.0)
    d = 1 / np.sqrt(np.einsum("nc,oc->no", s * s, (w * w).sum(axis=(2, 3))) + 1e-8)
    return y * d[:, :, None, None]


def ref_modconv(x, s, w):        # ModulatedConv2d(2, 3, 3): the synthesis network's plain conv
    y = np_conv(x * s[:, :, None, None], w, pad=1)
    d = 1 / np.sqrt(np.einsum("nc,oc->no", s * s, (w * w).sum(axis=(2, 3))) + 1e-8)
    return y * d[:, :, None, None]


def fd_grad(f, x, h=1e-5):
    """Central differences of the scalar f at every entry of x (float64)."""
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def fd_grad_batched(ref, x, s, w, v, h=1e-4):
    """d/dx sum(v * ref(x)) for every x entry in one batched call (ref is per-sample)."""
    n = x.size
    eye = np.eye(n).reshape(n, *x.shape) * h
    xs = np.concatenate([x[None] + eye, x[None] - eye]).reshape(-1, *x.shape[1:])
    ss = np.tile(s, (2 * n, 1))
    out = ref(xs, ss, w).reshape(2, n, *v.shape)
    return ((out[0] - out[1]) * v).sum(axis=tuple(range(1, v.ndim + 1))).reshape(x.shape) / (2 * h)


BLOCKS = {
    "down_conv": (lambda: nn.EqualConv2d(2, 3, 3, activation="lrelu", down=2), ref_down_conv,
                  False),
    "skip_1x1_down": (lambda: nn.EqualConv2d(2, 3, 1, bias=False, down=2), ref_skip, False),
    "modconv_up": (lambda: nn.ModulatedConv2d(2, 3, 3, up=2), ref_modconv_up, True),
    "modconv": (lambda: nn.ModulatedConv2d(2, 3, 3), ref_modconv, True),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_native_conv_path_matches_reference_to_second_order(name):
    make, ref, styled = BLOCKS[name]
    rng = np.random.default_rng(3)
    np.random.seed(3)
    cell = make()
    x = rng.standard_normal((2, 2, 6, 6))
    s = rng.uniform(0.5, 1.5, (2, 2))
    w = cell.weight.asnumpy().astype(np.float64)
    out_shape = ref(x, s, w).shape
    v = rng.standard_normal(out_shape)

    def fwd(x_, s_):
        return cell(x_, s_) if styled else cell(x_)

    def proj(x_, s_, v_):
        return (fwd(x_, s_) * v_).sum()

    grad_x, grad_s = ms.grad(proj, grad_position=0), ms.grad(proj, grad_position=1)
    grad_w = ms.grad(proj, grad_position=None, weights=cell.weight)

    def r1(x_, s_, v_):                      # ||d proj / dx||^2, as R1
        g = grad_x(x_, s_, v_)
        return (g * g).sum()

    def pl(x_, s_, v_):                      # ||d proj / d styles||^2, as the path length
        g = grad_s(x_, s_, v_)
        return (g * g).sum()

    r1_w = ms.grad(r1, grad_position=None, weights=cell.weight)
    pl_w = ms.grad(pl, grad_position=None, weights=cell.weight)

    @ms.jit
    def run(x_, s_, v_):
        outs = (fwd(x_, s_), grad_x(x_, s_, v_), grad_w(x_, s_, v_), r1_w(x_, s_, v_))
        return outs + (pl_w(x_, s_, v_),) if styled else outs

    got = [t.asnumpy() for t in run(*(Tensor(a.astype(np.float32)) for a in (x, s, v)))]

    def r1_ref(w_):
        g = fd_grad_batched(ref, x, s, w_, v)
        return (g * g).sum()

    def pl_ref(w_):
        g = fd_grad(lambda s_: (ref(x, s_, w_) * v).sum(), s)
        return (g * g).sum()

    expect = [ref(x, s, w), fd_grad_batched(ref, x, s, w, v),
              fd_grad(lambda w_: (ref(x, s, w_) * v).sum(), w), fd_grad(r1_ref, w, 1e-4)]
    if styled:
        expect.append(fd_grad(pl_ref, w, 1e-4))
    for what, a, b in zip(["forward", "d/dx", "d/dw", "d/dw R1", "d/dw path length"], got,
                          expect):
        assert a.shape == b.shape, what
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4 * np.abs(b).max(), err_msg=what)


def test_upsample2d_matches_reference():
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 5))
    got = nn.Upsample2d(3)(Tensor(x.astype(np.float32))).asnumpy()
    np.testing.assert_allclose(got, np_upfirdn(x, up=2, pad=(2, 1), gain=4.0), atol=1e-5)


def test_stylegan2_uses_the_native_convolution_operators():
    """No device-dependent lowering left: the Cells hold no CPU-only switch."""
    G, D = stylegan2.build(NARROW, 8, 3, 0)
    for net in (G, D):
        for _, cell in net.cells_and_names():
            assert "mm" not in cell.__dict__, type(cell).__name__


@pytest.mark.parametrize("batch", [8, 6, 2, 1])
def test_one_d_pass_over_paired_batches_equals_two_passes(batch):
    # D_main scores fakes and reals in one pass; MinibatchStd must group as in two.
    from msgan.models.sg2_layers import minibatch_group, pair_batches, unpair_batches
    _, D = stylegan2.build(NARROW, 16, 3, 3)
    rng = np.random.default_rng(batch)
    fake, real = (Tensor(rng.standard_normal((batch, 3, 16, 16)).astype(np.float32))
                  for _ in range(2))
    c = Tensor(rng.integers(0, 3, batch).astype(np.int32))
    g = minibatch_group(batch, NARROW.mbstd_group)

    @ms.jit
    def paired(fake, real, c):
        return unpair_batches(D(pair_batches(fake, real, g), pair_batches(c, c, g), 2), g)

    got_fake, got_real = paired(fake, real, c)
    np.testing.assert_allclose(got_fake.asnumpy(), D(fake, c).asnumpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_real.asnumpy(), D(real, c).asnumpy(), rtol=1e-4, atol=1e-5)
    # and the pairing matters: one plain pass over the joined batch groups differently
    if batch == 8:
        mixed = D(ops.concat((fake, real), 0), ops.concat((c, c), 0)).asnumpy()[:batch]
        assert not np.allclose(mixed, D(fake, c).asnumpy(), rtol=1e-4, atol=1e-5)
