"""msgan.ops.lowering.LeakyReLU: MindSpore's LeakyReLU with a cheaper gradient, same values."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor, nn

from msgan.ops.lowering import LeakyReLU

ms.set_context(mode=ms.GRAPH_MODE)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_values_and_gradient_match_mindspores(dtype):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3, 5, 5)).astype(dtype))
    w = Tensor(rng.standard_normal((4, 3, 5, 5)).astype(dtype))
    ours, ref = LeakyReLU(0.2), nn.LeakyReLU(0.2)

    def loss_ours(x):
        return (ours(x) * w).sum()

    def loss_ref(x):
        return (ref(x) * w).sum()

    np.testing.assert_array_equal(ours(x).asnumpy(), ref(x).asnumpy())
    g_ours = ms.jit(ms.grad(loss_ours))(x).asnumpy()
    g_ref = ms.jit(ms.grad(loss_ref))(x).asnumpy()
    assert g_ours.dtype == dtype
    np.testing.assert_allclose(g_ours, g_ref, rtol=1e-3 if dtype == np.float16 else 1e-6)
    xs, ws = x.asnumpy(), w.asnumpy()
    np.testing.assert_allclose(g_ours, np.where(xs > 0, ws, 0.2 * ws), rtol=1e-3)
