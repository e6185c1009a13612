"""FID InceptionV3: architecture, weight round trip, pytorch-fid conversion, bad checkpoints.

Most checks run at 75×75 (the smallest input the architecture accepts) to stay fast on CPU;
one forward pass runs at the real 299×299.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from msgan.errors import MsganError
from msgan.metrics import inception as inc

ROOT = Path(__file__).resolve().parents[1]
SMALL = 75


def _randomise(net, seed):
    """Random weights and BatchNorm statistics, so every tensor matters to the output."""
    import mindspore as ms
    rng = np.random.default_rng(seed)
    for p in net.get_parameters():
        shape = tuple(p.shape)
        if p.name.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        elif p.name.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        elif p.name.endswith(("beta", "moving_mean")):
            value = rng.normal(0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
        p.set_data(ms.Tensor(value.astype(np.float32)))
    return {p.name: p.asnumpy().copy() for p in net.get_parameters()}


@pytest.fixture(scope="module")
def random_net():
    net = inc.build_inception()
    return net, _randomise(net, 0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, size=(2, 3, 32, 32), dtype=np.uint8)


def test_parameter_shapes_match_torchvision_inception_without_aux_and_fc(random_net):
    net, _ = random_net
    shapes = inc.parameter_shapes(net)
    # torchvision's inception_v3 has 27,161,264 trainable parameters; minus AuxLogits
    # (3,326,696) and fc (2,049,000) leaves the FID network's 21,785,568.
    assert sum(int(np.prod(p.shape)) for p in net.trainable_params()) == 21_785_568
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
    assert shapes["Mixed_6b.branch7x7_2.conv.weight"] == (128, 128, 1, 7)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert shapes["Mixed_7c.branch_pool.bn.moving_variance"] == (192,)


# pytorch-fid's network in torch (torchvision 0.28 Inception3 classes with pytorch-fid's
# FIDInceptionA/C/E_1/E_2 patches), given these same random weights through the torch names of
# _as_pytorch_fid_state and the same 299×299 input, gave these pool3 features (torch 2.13 CPU;
# the full vectors agreed with MindSpore to 3.5e-6). Torch is not needed to run this test.
TORCH_REFERENCE_PROJECTIONS = [29.073922, -38.23861, 58.466536, 18.048054, 76.175828, -74.270964]
TORCH_REFERENCE_FIRST = [0.952163, 0.36478, 1.798457, 0.027772]
TORCH_REFERENCE_MEAN = 0.5557023125918743


def test_full_size_forward_matches_pytorch_fid_reference(random_net, images):
    net, _ = random_net
    feats = inc.inception_features(net, images[:1])        # resized to 299×299
    assert feats.shape == (1, inc.FEATURE_DIM)
    assert np.isfinite(feats).all() and (feats >= 0).all()  # mean of ReLU outputs
    projections = feats[0] @ np.random.default_rng(123).normal(size=(2048, 6))
    np.testing.assert_allclose(projections, TORCH_REFERENCE_PROJECTIONS, rtol=1e-5, atol=2e-3)
    np.testing.assert_allclose(feats[0, :4], TORCH_REFERENCE_FIRST, atol=1e-5)
    assert feats.mean() == pytest.approx(TORCH_REFERENCE_MEAN, rel=1e-5)


def test_prepare_images_resizes_and_scales_to_minus_one_one():
    grey = np.zeros((2, 1, 8, 8), dtype=np.uint8)
    grey[1] = 255
    x = inc.prepare_images(grey, size=20)
    assert x.shape == (2, 3, 20, 20) and x.dtype == np.float32
    assert np.allclose(x[0], -1.0) and np.allclose(x[1], 1.0)
    with pytest.raises(MsganError, match="uint8"):
        inc.prepare_images(np.zeros((2, 3, 8, 8), dtype=np.float32))


def test_save_then_load_reproduces_features(random_net, images, tmp_path):
    net, arrays = random_net
    path = str(tmp_path / "inception.ckpt")
    inc.save_inception_checkpoint(arrays, path)
    loaded = inc.load_inception(path)
    want = inc.inception_features(net, images, size=SMALL)
    got = inc.inception_features(loaded, images, batch_size=3, size=SMALL)  # padded last batch
    assert got.shape == (2, inc.FEATURE_DIM)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    fresh = inc.inception_features(inc.build_inception(), images, size=SMALL)
    assert not np.allclose(fresh, want, rtol=1e-2)        # the weights did change the output


def _as_pytorch_fid_state(arrays):
    back = {v: k for k, v in inc._BN_RENAMES.items()}
    state = {}
    for name, value in arrays.items():
        head, _, last = name.rpartition(".")
        state[f"{head}.{back[last]}" if head.endswith(".bn") else name] = value
        if last == "moving_mean":
            state[f"{head}.num_batches_tracked"] = np.array(0)
    state["fc.weight"] = np.zeros((1008, 2048), np.float32)   # dropped by the converter
    state["fc.bias"] = np.zeros(1008, np.float32)
    return state


def test_converter_script_turns_pytorch_fid_names_into_a_loadable_ckpt(random_net, images,
                                                                      tmp_path):
    net, arrays = random_net
    src, dst = tmp_path / "pt_inception.npz", tmp_path / "inception_fid.ckpt"
    np.savez(src, **_as_pytorch_fid_state(arrays))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/convert_inception_weights.py"),
                           str(src), str(dst)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = inc.inception_features(inc.load_inception(str(dst)), images, size=SMALL)
    np.testing.assert_allclose(got, inc.inception_features(net, images, size=SMALL),
                               rtol=1e-5, atol=1e-6)


def test_converter_rejects_incomplete_or_misshapen_weights(random_net):
    net, arrays = random_net
    state = _as_pytorch_fid_state(arrays)
    del state["Mixed_6a.branch3x3.conv.weight"]
    with pytest.raises(MsganError, match="1 missing"):
        inc.convert_state_dict(state, net)
    state = _as_pytorch_fid_state(arrays)
    state["Conv2d_1a_3x3.bn.weight"] = np.ones(31, np.float32)
    with pytest.raises(MsganError, match="wrong shapes"):
        inc.convert_state_dict(state, net)


def test_bad_checkpoints_raise_msgan_error_naming_the_key(tmp_path):
    import mindspore as ms
    with pytest.raises(MsganError, match=r"inception_checkpoint \(--inception-checkpoint\) is not"):
        inc.load_inception("")
    with pytest.raises(MsganError, match="metrics.inception_checkpoint .* does not exist.*convert"):
        inc.load_inception(str(tmp_path / "nope.ckpt"))
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(MsganError, match="not a readable MindSpore checkpoint"):
        inc.load_inception(str(garbage))
    other = tmp_path / "other.ckpt"
    ms.save_checkpoint([{"name": "Conv2d_1a_3x3.conv.weight",
                         "data": ms.Tensor(np.zeros((8, 3, 3, 3), np.float32))}], str(other))
    with pytest.raises(MsganError, match="does not hold FID InceptionV3 weights"):
        inc.load_inception(str(other))
