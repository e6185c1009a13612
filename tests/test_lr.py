import numpy as np
import mindspore as ms
from mindspore import Tensor, mint, nn

from msgan.train.lr import get_lr, linear_decay, set_lr


def test_set_lr_is_seen_by_a_compiled_step():
    net = nn.Dense(2, 1, weight_init="ones", bias_init="zeros")
    opt = mint.optim.Adam(net.trainable_params(), lr=0.1)

    def loss_fn(x):
        return net(x).sum()

    grad = ms.value_and_grad(loss_fn, None, opt.parameters)

    @ms.jit
    def step(x):
        loss, g = grad(x)
        opt(g)
        return loss

    x = Tensor(np.ones((1, 2), np.float32))
    step(x)
    w1 = net.weight.asnumpy().copy()
    set_lr(opt, 0.01)
    assert abs(get_lr(opt) - 0.01) < 1e-9
    step(x)
    # Adam's first steps move each weight by ~lr
    np.testing.assert_allclose(w1 - net.weight.asnumpy(), 0.01, rtol=1e-3)


def test_linear_decay():
    assert linear_decay(2e-4, 5, 10, 20) == 2e-4
    assert abs(linear_decay(2e-4, 15, 10, 20) - 1e-4) < 1e-12
    assert linear_decay(2e-4, 20, 10, 20) == 0.0
