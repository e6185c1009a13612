"""MindIR / ONNX export of a generator, checked against the Cell it came from.

An export only counts when the reloaded file reproduces the Cell's output on fixed inputs
(MindIR through ``nn.GraphCell``, ONNX through onnxruntime). A failed conversion or parity check
never raises: it is reported in the result so training carries on and the caller logs it.
Files are written under a temporary name in the target folder and moved into place, so a crash
never leaves a half-written model behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import mindspore as ms
import numpy as np
from mindspore import nn

from msgan.inference.latents import z_from_seeds
from msgan.io import fix_mode, one_line, write_json

SUFFIX = {"mindir": ".mindir", "onnx": ".onnx"}


def example_inputs(meta: dict, seed: int = 0) -> list[np.ndarray]:
    """Fixed inputs in the order of ``meta["inputs"]`` at the export batch size.

    The latents are those of seeds ``seed .. seed+batch-1`` (as ``msgan generate`` draws them);
    psi is 0.7 rather than 1 so the truncation path is part of the parity check. Image-to-image
    generators take one input ``x`` of shape ``(batch, *meta["input_shape"])``.
    """
    batch = int(meta["batch"])
    if list(meta["inputs"]) == ["x"]:      # image-to-image: one image batch in [-1, 1]
        shape = (batch, *[int(d) for d in meta["input_shape"]])
        return [np.random.RandomState(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)]
    arrays = {
        "z": z_from_seeds(range(seed, seed + batch), int(meta["z_dim"]),
                          meta.get("z_dist", "gaussian")),
        "c": (np.arange(batch) % max(int(meta.get("num_classes", 0)), 1)).astype(np.int32),
        "psi": np.full((batch,), 0.7, np.float32),
    }
    return [arrays[name] for name in meta["inputs"]]


OUTPUT_NAME = "images"
TO_UINT8 = "uint8 = clip(rint((images + 1) * 127.5), 0, 255), NaN as 0"


def seed_to_z_rule(z_dist: str = "gaussian") -> str:
    """How msgan turns a seed into a latent (``latents.z_from_seeds``), in words a user can copy."""
    draw = "uniform(-1, 1, z_dim)" if z_dist == "uniform" else "standard_normal(z_dim)"
    return (f"z[i] = numpy.random.RandomState(seed_i % 2**32).{draw}.astype(float32): one "
            "RandomState per seed (as SG2A's generate.py), so image <class>_<seed> of a run is "
            "remade from its seed alone")


def io_contract(meta: dict, output_shape=None) -> dict:
    """What a caller of the exported graph must feed and gets back, for the ``.json`` sidecar.

    Every input has exactly ``meta["batch"]`` rows (the batch the graph was traced with): pad a
    short batch and drop the extra rows. MindIR takes the inputs positionally in this order.
    ``output_shape``: what the traced graph returned (else the meta's resolution and channels).
    """
    batch = int(meta["batch"])
    if output_shape is None and "resolution" in meta and "channels" in meta:
        res, ch = int(meta["resolution"]), int(meta["channels"])
        output_shape = [batch, ch, res, res]
    if list(meta["inputs"]) == ["x"]:
        inputs = [{"name": "x", "shape": [batch, *[int(d) for d in meta["input_shape"]]],
                   "dtype": "float32", "layout": "NCHW", "range": [-1.0, 1.0],
                   "meaning": "input images: uint8 / 127.5 - 1"}]
    else:
        known = {
            "z": {"name": "z", "shape": [batch, int(meta["z_dim"])], "dtype": "float32",
                  "meaning": "latents, one row per image; from a seed: see seed_to_z"},
            "c": {"name": "c", "shape": [batch], "dtype": "int32",
                  "meaning": "class index per image into 'classes'"},
            "psi": {"name": "psi", "shape": [batch], "dtype": "float32",
                    "meaning": "truncation per image (a vector, not a scalar); 1 = off, "
                               "msgan generate --truncation gives every row the same value"},
        }
        inputs = [known[name] for name in meta["inputs"]]
    contract = {
        "inputs": inputs,
        "output": {"name": OUTPUT_NAME,
                   "shape": None if output_shape is None else [int(d) for d in output_shape],
                   "dtype": "float32", "layout": "NCHW", "range": [-1.0, 1.0],
                   "to_uint8": TO_UINT8},
        "batch": batch,
        "batch_rule": "every call takes exactly 'batch' rows: pad a short batch, drop the "
                      "extra rows",
    }
    if "z" in meta["inputs"]:
        contract["seed_to_z"] = seed_to_z_rule(meta.get("z_dist", "gaussian"))
    return contract


def fix_onnx_conv_transpose(model) -> int:
    """Cut MindSpore's ConvTranspose ``output_shape`` [N, C, H, W] to the spatial [H, W].

    onnxruntime refuses the 4-entry form ("Attribute output_shape has incorrect size").
    Returns how many nodes were changed.
    """
    fixed = 0
    for node in model.graph.node:
        if node.op_type != "ConvTranspose":
            continue
        for attr in node.attribute:
            if attr.name == "output_shape" and len(attr.ints) == 4:
                del attr.ints[:2]
                fixed += 1
    return fixed


def rename_onnx_io(model, input_names: list[str], output_name: str = OUTPUT_NAME) -> None:
    """Give graph inputs the meta names and the output a readable name (MindSpore numbers it)."""
    renames = {}
    for value, name in zip(model.graph.input, input_names):
        if value.name != name:
            renames[value.name] = name
    if len(model.graph.output) == 1 and model.graph.output[0].name != output_name:
        renames[model.graph.output[0].name] = output_name
    if not renames:
        return
    for value in list(model.graph.input) + list(model.graph.output):
        value.name = renames.get(value.name, value.name)
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = renames.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = renames.get(name, name)


def export_generator(net, meta: dict, out_stem: str, formats=("mindir", "onnx"),
                     atol: float = 1e-3, seed: int = 0) -> dict:
    """Export ``net`` (an ``export_net`` Cell) to ``<out_stem>.<fmt>`` plus ``<out_stem>.json``.

    Returns ``{fmt: {"path", "max_abs_diff", "ok"[, "error"]}}``; never raises for a format that
    fails to convert or to reproduce the Cell (``ok`` is False and ``error`` says why).

    ``atol`` is 1e-3, an eighth of one 8-bit level: MindSpore's CPU Tanh is off by up to 1.0e-4
    (it returns 1.0000097 for large inputs), so a trained generator's saturated pixels alone
    differ from onnxruntime by ~1e-4 and a 1e-4 tolerance would reject good exports.
    """
    folder = os.path.dirname(os.path.abspath(out_stem))
    os.makedirs(folder, exist_ok=True)
    net.set_train(False)
    inputs = example_inputs(meta, seed)
    tensors = [ms.Tensor(a) for a in inputs]
    reference, error = None, None
    try:
        reference = net(*tensors).asnumpy()
    except Exception as e:  # report, never raise: a bad export must not stop training
        error = f"the generator failed on the example inputs: {_error_line(e)}"

    results = {}
    for fmt in formats:
        if error is None and fmt in SUFFIX:
            results[fmt] = _export_one(net, fmt, tensors, inputs, reference, meta, out_stem,
                                       atol)
        else:
            results[fmt] = {"path": None, "max_abs_diff": None, "ok": False,
                            "error": error or f"unknown export format {fmt!r} (use mindir or onnx)"}

    sidecar = dict(meta)
    sidecar["contract"] = io_contract(meta, None if reference is None else reference.shape)
    sidecar["parity"] = {fmt: {k: v for k, v in r.items() if k != "path"}
                         for fmt, r in results.items()}
    sidecar["parity_atol"] = atol
    write_json(out_stem + ".json", sidecar)
    return results


def _export_one(net, fmt, tensors, inputs, reference, meta, out_stem, atol) -> dict:
    final = out_stem + SUFFIX[fmt]
    # The output's own size shows whether an absolute tolerance meant anything (an untrained
    # DCGAN outputs ~1e-4, so any export would pass atol=1e-4).
    result = {"path": os.path.abspath(final), "max_abs_diff": None, "ok": False,
              "reference_abs_max": float(np.abs(reference).max())}
    folder = os.path.dirname(os.path.abspath(out_stem))
    tmp_dir = tempfile.mkdtemp(prefix=".export-", dir=folder)
    tmp_stem = os.path.join(tmp_dir, "model")
    tmp_file = tmp_stem + SUFFIX[fmt]
    try:
        # After one ONNX export of a Cell, later exports of it fail ("i: 4 out of range" on
        # Gather): MindSpore reuses the graph it converted. A fresh wrapper per export avoids it.
        ms.export(_Fresh(net), *tensors, file_name=tmp_stem, file_format=fmt.upper())
        fix_mode(tmp_file)     # MindSpore writes it -r--------; the ONNX patch rewrites it too
        if fmt == "onnx":
            result["conv_transpose_fixed"] = _patch_onnx_file(tmp_file, list(meta["inputs"]))
            output = _run_onnx(tmp_file, list(meta["inputs"]), inputs)
        else:
            output = nn.GraphCell(ms.load(tmp_file))(*tensors).asnumpy()
        if output.shape != reference.shape:
            raise ValueError(f"output shape {output.shape} differs from the Cell's "
                             f"{reference.shape}")
        diff = float(np.abs(output.astype(np.float64) - reference).max())
        result["max_abs_diff"] = diff
        if not diff <= atol:  # also catches NaN
            raise ValueError(f"reloaded {fmt} differs from the Cell by {diff:.3g} > {atol:g}")
        os.replace(tmp_file, final)
        result["ok"] = True
    except Exception as e:  # report, never raise: a bad export must not stop training
        result["error"] = f"{fmt} export failed: {_error_line(e)}"
        # A stale file from an earlier export under this name would no longer match the sidecar.
        if os.path.exists(final):
            os.remove(final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return result


class _Fresh(nn.Cell):
    """A new wrapper object per export, so MindSpore converts the graph anew.

    ``auto_prefix=False``: a prefixing parent would rename the wrapped generator's parameters
    (MindSpore renames them in place), and the next checkpoint would no longer load.
    """

    def __init__(self, net):
        super().__init__(auto_prefix=False)
        self.net = net

    def construct(self, *inputs):
        return self.net(*inputs)


def _patch_onnx_file(path: str, input_names: list[str]) -> int:
    import onnx

    model = onnx.load(path)
    fixed = fix_onnx_conv_transpose(model)
    rename_onnx_io(model, input_names)
    onnx.save(model, path)
    return fixed


def _run_onnx(path: str, input_names: list[str], inputs: list[np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)[0]


def _error_line(e: Exception) -> str:
    return f"{type(e).__name__}: {one_line(e, 300)}"
