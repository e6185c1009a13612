"""Export of a tiny generator: parity recomputed here, the ConvTranspose patch, failures."""
import json
import os

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from mindspore import nn, ops  # noqa: E402

from msgan.inference.export import (example_inputs, export_generator,  # noqa: E402
                                    fix_onnx_conv_transpose)

from tiny_generator import BATCH, Z_DIM, ExportCond, ExportUncond, TinyG, make_meta  # noqa: E402,E501


def make_net(conditional=True, channels=3, seed=0):
    ms.set_seed(seed)
    G = TinyG(3 if conditional else 0, channels)
    net = ExportCond(G) if conditional else ExportUncond(G)
    net.set_train(False)
    return net


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    net, meta = make_net(), make_meta()
    result = export_generator(net, meta, str(folder / "G_ema-000001"))
    return net, meta, folder, result


def test_export_reports_parity_for_both_formats(exported):
    _, _, folder, result = exported
    assert set(result) == {"mindir", "onnx"}
    for fmt, r in result.items():
        assert r["ok"], r
        assert "error" not in r
        assert 0.0 <= r["max_abs_diff"] <= 1e-4
        assert r["reference_abs_max"] > 0.3   # outputs big enough for the check to mean something
        assert r["path"] == str(folder / f"G_ema-000001.{fmt}")
        assert os.path.isfile(r["path"])
    # no temporary files or folders left behind
    assert sorted(os.listdir(folder)) == ["G_ema-000001.json", "G_ema-000001.mindir",
                                          "G_ema-000001.onnx"]


def test_reloaded_exports_reproduce_the_cell(exported):
    net, meta, folder, _ = exported
    rng = np.random.RandomState(5)
    for inputs in (example_inputs(meta, 0),
                   [rng.randn(BATCH, Z_DIM).astype(np.float32),
                    np.array([2, 1, 0, 2], np.int32), np.full(BATCH, 0.5, np.float32)]):
        tensors = [ms.Tensor(a) for a in inputs]
        ref = net(*tensors).asnumpy()
        assert ref.shape == (BATCH, 3, 8, 8)
        graph = nn.GraphCell(ms.load(str(folder / "G_ema-000001.mindir")))
        mindir_out = graph(*tensors).asnumpy()
        session = ort.InferenceSession(str(folder / "G_ema-000001.onnx"))
        onnx_out = session.run(None, dict(zip(meta["inputs"], inputs)))[0]
        assert np.abs(mindir_out - ref).max() <= 1e-4
        assert np.abs(onnx_out - ref).max() <= 1e-4
    # psi is a real input: changing it changes the output
    other = [inputs[0], inputs[1], np.ones(BATCH, np.float32)]
    assert np.abs(session.run(None, dict(zip(meta["inputs"], other)))[0] - onnx_out).max() > 1e-3


def test_onnx_inputs_carry_meta_names(exported):
    _, meta, folder, _ = exported
    session = ort.InferenceSession(str(folder / "G_ema-000001.onnx"))
    assert [i.name for i in session.get_inputs()] == meta["inputs"]
    assert [o.name for o in session.get_outputs()] == ["images"]


def test_sidecar_holds_meta_and_parity(exported):
    _, meta, folder, result = exported
    with open(folder / "G_ema-000001.json") as f:
        sidecar = json.load(f)
    for key, value in meta.items():
        assert sidecar[key] == value
    assert sidecar["parity"]["onnx"]["max_abs_diff"] == result["onnx"]["max_abs_diff"]
    assert sidecar["parity"]["mindir"]["ok"] is True


def test_conv_transpose_patch_is_needed_and_applied(exported, tmp_path):
    net, meta, folder, result = exported
    tensors = [ms.Tensor(a) for a in example_inputs(meta, 0)]
    raw = str(tmp_path / "raw")
    ms.export(net, *tensors, file_name=raw, file_format="ONNX")
    with pytest.raises(Exception, match="output_shape"):
        ort.InferenceSession(raw + ".onnx")
    model = onnx.load(raw + ".onnx")
    assert fix_onnx_conv_transpose(model) == 1
    assert fix_onnx_conv_transpose(model) == 0   # already fixed: left alone
    ort.InferenceSession(model.SerializeToString())
    # the exported file carries the spatial output_shape only
    assert result["onnx"]["conv_transpose_fixed"] == 1
    shapes = [list(a.ints) for n in onnx.load(str(folder / "G_ema-000001.onnx")).graph.node
              if n.op_type == "ConvTranspose" for a in n.attribute if a.name == "output_shape"]
    assert shapes == [[8, 8]]


def test_unconditional_export(tmp_path):
    net, meta = make_net(conditional=False, channels=1), make_meta(conditional=False, channels=1)
    result = export_generator(net, meta, str(tmp_path / "uncond"), formats=("onnx",))
    assert result["onnx"]["ok"], result
    assert set(result) == {"onnx"}
    assert not (tmp_path / "uncond.mindir").exists()
    session = ort.InferenceSession(str(tmp_path / "uncond.onnx"))
    (z,) = example_inputs(meta, 0)
    ref = net(ms.Tensor(z)).asnumpy()
    assert ref.shape == (BATCH, 1, 8, 8)
    assert np.abs(session.run(None, {"z": z})[0] - ref).max() <= 1e-4


class NoisyExport(nn.Cell):
    """Draws noise inside the graph: ONNX cannot convert it, MindIR does not reproduce it."""

    def __init__(self, G):
        super().__init__()
        self.G = G

    def construct(self, z, c, psi):
        return self.G(z + ops.standard_normal(z.shape), c, psi)


def test_failed_exports_are_reported_not_raised(tmp_path):
    meta = make_meta()
    stem = tmp_path / "noisy"
    (tmp_path / "noisy.onnx").write_bytes(b"stale export from an earlier run")
    result = export_generator(NoisyExport(make_net().G), meta, str(stem))
    for fmt in ("mindir", "onnx"):
        assert result[fmt]["ok"] is False
        assert result[fmt]["error"].startswith(f"{fmt} export failed")
        assert "\n" not in result[fmt]["error"]
        assert not (tmp_path / f"noisy.{fmt}").exists()
    assert result["mindir"]["max_abs_diff"] > 1e-3
    with open(tmp_path / "noisy.json") as f:
        assert json.load(f)["parity"]["onnx"]["ok"] is False
    assert sorted(os.listdir(tmp_path)) == ["noisy.json"]


def test_unknown_format_is_reported(tmp_path):
    result = export_generator(make_net(), make_meta(), str(tmp_path / "g"), formats=("tflite",))
    assert result["tflite"]["ok"] is False and "tflite" in result["tflite"]["error"]


def test_same_net_exports_again(exported, tmp_path):
    # Training exports G_ema at every snapshot; MindSpore refuses a second ONNX export of a Cell.
    net, meta, _, _ = exported
    for i in range(2):
        result = export_generator(net, meta, str(tmp_path / f"again{i}"))
        assert result["onnx"]["ok"] and result["mindir"]["ok"], result


@pytest.mark.parametrize("g_cond,upsample", [("input", "deconv"), ("cbn", "deconv"),
                                             ("cbn", "resize_conv")])
def test_real_dcgan_exports(tmp_path, g_cond, upsample):
    """A real DCGAN exports ONNX as Conv/ConvTranspose nodes, and MindSpore's ConvTranspose
    nodes need the fix-up (resize_conv's too: its kernel is computed in the graph)."""
    models = pytest.importorskip("msgan.models")
    ms.set_seed(0)
    spec = models.MODELS["dcgan"]
    G, _ = spec.build(spec.config(z_dim=Z_DIM, ngf=8, ndf=8, g_cond=g_cond,
                                    upsample=upsample), 32, 3, 2)
    # At init DCGAN outputs are ~1e-4, which would make the parity check vacuous; large weights
    # saturate the Tanh, where MindSpore's CPU Tanh is ~1e-4 off (the reason atol is 1e-3).
    rng = np.random.RandomState(0)
    for p in G.trainable_params():
        if p.name.endswith(("weight", "embedding_table")):
            p.set_data(ms.Tensor(rng.normal(0, 0.3, p.shape).astype(np.float32)))
    meta = {"model": "dcgan", "z_dim": Z_DIM, "num_classes": 2, "classes": ["a", "b"],
            "resolution": 32, "channels": 3, "batch": BATCH, "inputs": ["z", "c"]}
    net = models.MODELS["dcgan"].export_net(G)
    result = export_generator(net, meta, str(tmp_path / "dcgan"))
    assert result["mindir"]["ok"] and result["onnx"]["ok"], result
    assert result["onnx"]["conv_transpose_fixed"] == 4      # one per transposed conv layer
    inputs = example_inputs(meta, 0)
    ref = net(*[ms.Tensor(a) for a in inputs]).asnumpy()
    out = ort.InferenceSession(result["onnx"]["path"]).run(None, dict(zip(meta["inputs"], inputs)))
    assert out[0].shape == (BATCH, 3, 32, 32)
    assert ref.std() > 0.5
    assert result["onnx"]["reference_abs_max"] == pytest.approx(float(np.abs(ref).max()))
    assert np.abs(out[0] - ref).max() <= 1e-3
    assert np.abs(np.clip(out[0], -1, 1) - np.clip(ref, -1, 1)).max() <= 1e-3


ORT_DTYPES = {"float32": "tensor(float)", "int32": "tensor(int32)"}


def test_sidecar_states_the_onnx_contract(exported):
    """The sidecar's contract is what onnxruntime actually asks for and returns."""
    _, meta, folder, _ = exported
    with open(folder / "G_ema-000001.json") as f:
        contract = json.load(f)["contract"]
    session = ort.InferenceSession(str(folder / "G_ema-000001.onnx"))
    assert [(i["name"], i["shape"], ORT_DTYPES[i["dtype"]]) for i in contract["inputs"]] == \
        [(i.name, i.shape, i.type) for i in session.get_inputs()]
    assert [i["shape"] for i in contract["inputs"]] == [[BATCH, Z_DIM], [BATCH], [BATCH]]
    out = contract["output"]
    (o,) = session.get_outputs()
    assert (out["name"], out["shape"], ORT_DTYPES[out["dtype"]]) == (o.name, o.shape, o.type)
    assert out["layout"] == "NCHW" and out["range"] == [-1.0, 1.0]
    assert contract["batch"] == meta["batch"] == BATCH
    # the seed -> z rule in words is the one the parity inputs (seeds 0..B-1) were drawn by
    z = np.stack([np.random.RandomState(s).standard_normal(Z_DIM).astype(np.float32)
                  for s in range(BATCH)])
    assert "RandomState(seed_i % 2**32).standard_normal(z_dim)" in contract["seed_to_z"]
    np.testing.assert_array_equal(example_inputs(meta, 0)[0], z)
    # psi is a per-row vector: the scalar a user might pass is refused, as the contract warns
    feeds = dict(zip(meta["inputs"], example_inputs(meta, 0)))
    with pytest.raises(Exception, match="psi"):
        session.run(None, dict(feeds, psi=np.array(0.7, np.float32)))
    assert "not a scalar" in contract["inputs"][2]["meaning"]


def test_uniform_latents_contract_says_uniform(tmp_path):
    from msgan.inference.export import io_contract
    from msgan.inference.latents import z_from_seeds

    contract = io_contract(dict(make_meta(conditional=False), z_dist="uniform"))
    assert [i["name"] for i in contract["inputs"]] == ["z"]
    assert "RandomState(seed_i % 2**32).uniform(-1, 1, z_dim)" in contract["seed_to_z"]
    want = np.random.RandomState(7).uniform(-1, 1, Z_DIM).astype(np.float32)
    np.testing.assert_array_equal(z_from_seeds([7], Z_DIM, "uniform")[0], want)


@pytest.mark.parametrize("config, overrides, batch", [
    ("configs/stylegan2_cpu.yaml", [], 16),                 # train.batch_size 16
    ("configs/stylegan2.yaml", [], 8),                      # train.batch_size 8
    ("configs/dcgan.yaml", [], 32),                         # train.batch_size 64: capped at 32
    ("configs/stylegan2.yaml", ["generate.batch_size=2"], 2),    # given: used as given
    ("configs/pix2pix_cpu.yaml", [], 4),
])
def test_config_yaml_records_the_export_batch(tmp_path, config, overrides, batch):
    """A run's config.yaml says the batch its exports were traced with (issue 35: it said 32
    while the exports took 16)."""
    import yaml

    from msgan.config import dump_config, export_batch, load_config

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = load_config(os.path.join(root, config), overrides)
    assert export_batch(cfg) == batch
    dump_config(cfg, str(tmp_path / "config.yaml"))
    with open(tmp_path / "config.yaml") as f:
        assert yaml.safe_load(f)["generate"]["batch_size"] == batch
