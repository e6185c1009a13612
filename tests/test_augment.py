"""ADA: the augmentation pipe (identity at p=0, known transforms, gradients) and the p heuristic."""
import json

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import Tensor  # noqa: E402

from msgan.augment.ada import (NUM_RANDOM, NUM_UNIFORM, AdaController, AugmentPipe,  # noqa: E402
                           _N, _U, draw_random)

R = 16


def images(channels, n=4, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, channels, R, R)).astype(np.float32)


def closed_rand(n=2):
    """Random input with every gate closed (uniforms near 1) and zero normals."""
    rand = np.full((n, NUM_RANDOM), 0.999, np.float32)
    rand[:, NUM_UNIFORM:] = 0.0
    return rand


@pytest.fixture(scope="module")
def pipes():
    return {c: AugmentPipe(R, c) for c in (1, 3)}


@pytest.mark.parametrize("channels", [1, 3])
def test_p0_is_exactly_identity_and_p1_changes_images(pipes, channels):
    run = ms.jit(pipes[channels].construct)
    x = images(channels)
    for _ in range(2):                                # fresh random draws each call
        assert np.array_equal(run(Tensor(x), Tensor(0.0, ms.float32)).asnumpy(), x)
    y = run(Tensor(x), Tensor(1.0, ms.float32)).asnumpy()
    assert y.shape == x.shape and np.isfinite(y).all()
    assert (np.abs(y - x).reshape(len(x), -1).max(axis=1) > 1e-2).all()


def test_integer_translation_is_an_exact_shift(pipes):
    x = images(3, n=2)
    rand = closed_rand()
    rand[:, _U["xint_gate"]] = 0.0
    rand[:, _U["xint_x"]] = 1.0        # +XINT_MAX * 16 = 2 pixels right
    rand[:, _U["xint_y"]] = 0.5        # no vertical shift
    y = ms.jit(pipes[3].apply)(Tensor(x), Tensor(0.5, ms.float32), Tensor(rand)).asnumpy()
    np.testing.assert_allclose(y[..., 4:-4], np.roll(x, 2, axis=3)[..., 4:-4], atol=1e-5)


def test_brightness_adds_a_constant(pipes):
    x = images(3, n=2)
    rand = closed_rand()
    rand[:, _U["bright_gate"]] = 0.0
    rand[:, NUM_UNIFORM + _N["bright"]] = [1.0, -2.0]          # b = 0.2 * normal
    y = ms.jit(pipes[3].apply)(Tensor(x), Tensor(0.5, ms.float32), Tensor(rand)).asnumpy()
    np.testing.assert_allclose(y[0], x[0] + 0.2, atol=1e-5)
    np.testing.assert_allclose(y[1], x[1] - 0.4, atol=1e-5)


def test_gradient_flows_through_the_pipe_and_matches_finite_differences(pipes):
    pipe = pipes[3]
    x = images(3, n=2)
    rand = draw_random(np.random.default_rng(3), 2)
    probe = Tensor(np.random.default_rng(4).standard_normal(x.shape).astype(np.float32))
    p = Tensor(1.0, ms.float32)

    def f(img):
        return (pipe.apply(img, p, Tensor(rand)) * probe).sum()

    grad = ms.jit(ms.grad(f))(Tensor(x)).asnumpy()
    assert np.abs(grad).sum() > 0
    d = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)
    fj, eps = ms.jit(f), 1e-2
    fd = (float(fj(Tensor(x + eps * d)).asnumpy()) - float(fj(Tensor(x - eps * d)).asnumpy()))
    np.testing.assert_allclose(fd / (2 * eps), float((grad * d).sum()), rtol=2e-2, atol=1e-2)


def test_higher_p_changes_more_samples(pipes):
    x = np.zeros((64, 1, R, R), np.float32) + np.linspace(-1, 1, R, dtype=np.float32)
    rand = draw_random(np.random.default_rng(0), 64)
    run = ms.jit(pipes[1].apply)
    changed = [int((np.abs(run(Tensor(x), Tensor(p, ms.float32), Tensor(rand)).asnumpy() - x)
                    .reshape(64, -1).max(1) > 0).sum()) for p in (0.0, 0.1, 0.5)]
    assert changed[0] == 0 < changed[1] < changed[2]


def test_ada_p_rises_when_d_overfits_and_falls_otherwise():
    ada = AdaController(target=0.6, interval=4, ada_kimg=1, batch_size=8, p_init=0.0, p_max=0.5)
    step = 8 * 4 / 1000
    for _ in range(8):
        ada.observe(Tensor(0.9, ms.float32))           # D(real) signs mostly positive
    assert ada.p == pytest.approx(2 * step)
    assert float(ada.p_tensor.asnumpy()) == pytest.approx(2 * step)
    for _ in range(400):
        ada.observe(1.0)
    assert ada.p == 0.5                                 # clamped at p_max
    for _ in range(4 * 1000):
        ada.observe(-0.2)
    assert ada.p == 0.0                                 # clamped at 0


def test_ada_only_moves_every_interval_and_round_trips():
    ada = AdaController(target=0.6, interval=4, ada_kimg=100, batch_size=4, p_init=0.1)
    moved = [ada.observe(0.0) for _ in range(3)]
    assert moved == [False] * 3 and ada.p == 0.1
    state = json.loads(json.dumps(ada.state_dict()))
    twin = AdaController(target=0.6, interval=4, ada_kimg=100, batch_size=4, p_init=0.9)
    twin.load_state_dict(state)
    assert ada.observe(0.0) and twin.observe(0.0)
    assert ada.p == twin.p == pytest.approx(0.1 - 4 * 4 / 100000)
