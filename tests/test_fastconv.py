"""fastconv Cells compute the same function (and gradients) as MindSpore's built-in conv Cells."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor, nn

from msgan.inference.export import fix_onnx_conv_transpose
from msgan.ops import conv_kernels, fastconv

ms.set_context(mode=ms.GRAPH_MODE)

# Every lowering: the compiled im2col/col2im kernels (where a C++ compiler exists), the
# pure-MindSpore one (MindIR exports, machines without a compiler) and plain conv operators
# (ONNX exports).
PATHS = ["kernels", "portable", "native"]


def _use(net, path):
    if path == "kernels" and conv_kernels.library() is None:
        pytest.skip("no C++ compiler: the conv kernels cannot be built here")
    for cell in fastconv.cells_of(net):
        cell.use_kernels, cell.native_ops = path == "kernels", path == "native"
    return net


def _pair(kind, cin, cout, k, s, p, bias):
    """A built-in Cell and a fastconv Cell created from the same seed, hence the same weights."""
    ms.set_seed(7)
    if kind == "conv":
        ref = nn.Conv2d(cin, cout, k, s, pad_mode="pad", padding=p, has_bias=bias)
        ms.set_seed(7)
        fast = fastconv.Conv2d(cin, cout, k, s, p, has_bias=bias)
    else:
        ref = nn.Conv2dTranspose(cin, cout, k, s, pad_mode="pad", padding=p, has_bias=bias)
        ms.set_seed(7)
        fast = fastconv.ConvTranspose2d(cin, cout, k, s, p, has_bias=bias)
    if bias:   # the built-in bias init is zeros; make the bias matter in the comparison
        value = np.random.default_rng(1).standard_normal(cout).astype(np.float32)
        ref.bias.set_data(Tensor(value))
        fast.bias.set_data(Tensor(value))
    return ref, fast


def _grad_fn(net):
    upstream = Tensor(np.random.default_rng(2).standard_normal(1).astype(np.float32))

    def loss(x, w_out):
        # A non-uniform upstream gradient: sum(y * w_out) has dL/dy = w_out.
        return (net(x) * w_out).sum() * upstream

    return ms.jit(ms.value_and_grad(loss, 0, net.trainable_params()))


CASES = [
    # kind, cin, cout, k, stride, padding, bias, input shape
    ("conv", 3, 8, 4, 2, 1, True, (2, 3, 8, 8)),       # DCGAN D layer
    ("conv", 5, 7, 3, 1, 1, False, (1, 5, 7, 9)),      # batch 1, odd non-square input
    ("conv", 5, 7, 3, 2, 0, True, (3, 5, 9, 7)),       # k not a multiple of s, no padding
    ("conv", 4, 6, 5, 2, 2, False, (2, 4, 11, 10)),    # rows/cols the kernel never reaches
    ("conv", 4, 6, 1, 1, 0, True, (2, 4, 5, 5)),       # 1x1
    ("convT", 8, 4, 4, 2, 1, False, (2, 8, 4, 4)),     # DCGAN G layer
    ("convT", 8, 4, 4, 2, 1, True, (1, 8, 3, 5)),      # batch 1, odd non-square input
    ("convT", 8, 4, 3, 2, 1, True, (2, 8, 4, 4)),      # k not a multiple of s
    ("convT", 8, 4, 4, 1, 0, False, (2, 8, 1, 1)),     # z → 4x4 first layer
    ("convT", 6, 5, 5, 3, 2, True, (2, 6, 4, 3)),      # stride 3
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind,cin,cout,k,s,p,bias,shape", CASES)
def test_forward_and_gradients_match_builtin(kind, cin, cout, k, s, p, bias, shape, path):
    ref, fast = _pair(kind, cin, cout, k, s, p, bias)
    _use(fast, path)
    assert [q.shape for q in fast.trainable_params()] == [q.shape for q in ref.trainable_params()]
    np.testing.assert_array_equal(fast.weight.asnumpy(), ref.weight.asnumpy())
    rng = np.random.default_rng(0)
    grad_ref, grad_fast = _grad_fn(ref), _grad_fn(fast)
    for call in range(3):   # repeated jit calls with new inputs: the backward must stay right
        x = Tensor(rng.standard_normal(shape).astype(np.float32))
        y_ref = ref(x).asnumpy()
        w_out = Tensor(rng.standard_normal(y_ref.shape).astype(np.float32))
        (l_ref, (gx_ref, gw_ref)), (l_fast, (gx_fast, gw_fast)) = (
            grad_ref(x, w_out), grad_fast(x, w_out))
        np.testing.assert_allclose(fast(x).asnumpy(), y_ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(l_fast.asnumpy(), l_ref.asnumpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(gx_fast.asnumpy(), gx_ref.asnumpy(), rtol=1e-5, atol=1e-5)
        for a, b in zip(gw_fast, gw_ref):
            np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-4)


def test_valid_pad_mode_and_bad_pad_mode():
    fast = fastconv.ConvTranspose2d(6, 3, 4, 1, pad_mode="valid")
    assert fast(Tensor(np.ones((1, 6, 1, 1), np.float32))).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError):
        fastconv.Conv2d(3, 4, 3, 1, padding=1, pad_mode="same")


class _TinyG(nn.Cell):
    def __init__(self):
        super().__init__()
        self.net = nn.SequentialCell([
            fastconv.ConvTranspose2d(6, 8, 4, 1, pad_mode="valid"), nn.ReLU(),
            fastconv.ConvTranspose2d(8, 4, 4, 2, 1, has_bias=True), nn.ReLU(),
            fastconv.Conv2d(4, 3, 3, 1, 1, has_bias=True), nn.Tanh()])

    def construct(self, z):
        return self.net(z.reshape(z.shape[0], -1, 1, 1))


def test_mindir_and_onnx_export_reproduce_the_cell(tmp_path):
    """Exports inside ``portable`` hold only standard operators and reproduce the Cell as it ran
    in training (with the compiled kernels where they exist): MindIR with fastconv's own
    lowering, ONNX (``native_ops``) with plain Conv/ConvTranspose nodes."""
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    ms.set_seed(3)
    net = _TinyG()
    net.set_train(False)
    z = Tensor(np.random.default_rng(4).standard_normal((2, 6)).astype(np.float32))
    expected = net(z).asnumpy()
    assert expected.shape == (2, 3, 8, 8)

    stem = str(tmp_path / "tiny")
    with fastconv.portable(net):
        ms.export(net, z, file_name=stem, file_format="MINDIR")
    with fastconv.portable(net, native_ops=True):
        ms.export(net, z, file_name=stem, file_format="ONNX")
    convs = fastconv.cells_of(net)
    assert len(convs) == 3 and all(c.use_kernels == (conv_kernels.library() is not None) and not c.native_ops
               for c in convs)
    with open(stem + ".mindir", "rb") as f:
        graph = f.read()
    assert b"Im2Col" not in graph and b"Col2Im" not in graph
    loaded = nn.GraphCell(ms.load(stem + ".mindir"))
    np.testing.assert_allclose(loaded(z).asnumpy(), expected, rtol=1e-5, atol=1e-5)

    model = onnx.load(stem + ".onnx")
    ops_used = [node.op_type for node in model.graph.node]
    assert ops_used.count("ConvTranspose") == 2 and ops_used.count("Conv") == 1
    assert "MatMul" not in ops_used
    fix_onnx_conv_transpose(model)     # what msgan's exporter does to MindSpore's ONNX
    session = ort.InferenceSession(model.SerializeToString())
    out = session.run(None, {session.get_inputs()[0].name: z.asnumpy()})[0]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
