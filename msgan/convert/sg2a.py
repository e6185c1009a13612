"""stylegan2-ada-pytorch (SG2A) networks, read as data, → msgan's StyleGAN2 config and weights.

msgan's models/stylegan2.py mirrors SG2A's training/networks.py layer for layer (G: "skip"
synthesis, D: "resnet" blocks), so the conversion is a renaming plus the few layout
differences: msgan's ClassEmbed holds the transpose of SG2A's embed weight, noise_strength is
(1,) instead of a scalar, D's skip conv carries an unused zero bias, D's label mapping an unused
w_avg. Every other difference (another architecture, filter, activation, mbstd channel count,
feature counts, ...) is refused with a line that names it.
"""
from __future__ import annotations

import math
import re

import numpy as np

from msgan.convert.source import (MSGAN_MAPPING_LR, Converted, block_index, f32, refuse,
                                  resample_filter_ok, synthesis_index)
from msgan.convert.unpickle import Module
from msgan.errors import MsganError

NOT_A_NETWORK = ("is not a StyleGAN2 network pickle (expected stylegan2-ada-pytorch's "
                 "dict(G, D, G_ema, ...) or a TensorFlow StyleGAN2 (G, D, Gs) tuple) — pass a "
                 "network-snapshot-*.pkl or one of NVIDIA's published StyleGAN2(-ADA) pickles")

G_KEYS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs",
          "synthesis_kwargs"}
G_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation",
                  "lr_multiplier", "w_avg_beta"}
G_SYNTHESIS_KEYS = {"channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture",
                    "resample_filter", "use_noise", "activation", "fp16_channels_last",
                    "kernel_size"}
D_KEYS = {"c_dim", "img_resolution", "img_channels", "architecture", "channel_base",
          "channel_max", "num_fp16_res", "conv_clamp", "cmap_dim", "block_kwargs",
          "mapping_kwargs", "epilogue_kwargs"}
D_BLOCK_KEYS = {"activation", "resample_filter", "fp16_channels_last", "freeze_layers"}
D_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation",
                  "lr_multiplier"}
D_EPILOGUE_KEYS = {"mbstd_group_size", "mbstd_num_channels", "activation"}
D_MAPPING_LAYERS = 8       # msgan's D label mapping (SG2A's default; its train.py never changes it)


def is_sg2a(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("G_ema"), Module)


def tensors(m: Module, prefix: str = "") -> dict:
    """{dotted name: array} of every parameter and buffer of a module tree (torch's
    named_parameters + named_buffers order does not matter here)."""
    out = {}
    st = m.state
    for key in ("_parameters", "_buffers"):
        group = st.get(key) or {}
        if not isinstance(group, dict):
            raise MsganError(f"module {prefix or m.class_name} has a malformed {key} — the pickle "
                             "is damaged")
        for name, v in group.items():
            if v is None:
                continue
            if not isinstance(v, np.ndarray):
                raise MsganError(f"{prefix}{name} in the pickle is not a tensor — the pickle is "
                                 "damaged")
            out[prefix + name] = v
    for name, sub in (st.get("_modules") or {}).items():
        if sub is None:
            continue
        if not isinstance(sub, Module):
            raise MsganError(f"{prefix}{name} in the pickle is not a network module — the pickle "
                             "is damaged")
        out.update(tensors(sub, f"{prefix}{name}."))
    return out


def init_kwargs(m: Module, what: str) -> dict:
    args, kwargs = m.state.get("_init_args", ()), m.state.get("_init_kwargs")
    if args or not isinstance(kwargs, dict):
        raise MsganError(f"{what} in the pickle does not record its constructor's keyword "
                         "arguments (_init_kwargs) — re-save it with stylegan2-ada-pytorch")
    return dict(kwargs)


def _sub(kwargs: dict, key: str, allowed: set, what: str) -> dict:
    sub = kwargs.get(key) or {}
    if not isinstance(sub, dict):
        raise MsganError(f"{what}.{key} in the pickle is not a dict — the pickle is damaged")
    _known(sub, allowed, f"{what}.{key}")
    return dict(sub)


def _known(kwargs: dict, allowed: set, what: str) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise refuse(f"{what} has the argument {unknown[0]}={kwargs[unknown[0]]!r}, which "
                     "stylegan2-ada-pytorch's networks do not have (a fork?)")


def _expect(value, wanted, what: str) -> None:
    if value != wanted:
        raise refuse(f"{what} is {value!r}, msgan supports only {wanted!r}")


class _Take:
    """Hands out the source's tensors by name; whatever is left at the end was not mapped."""

    def __init__(self, t: dict, what: str):
        self.t, self.what = dict(t), what

    def __call__(self, name: str) -> np.ndarray:
        if name not in self.t:
            raise MsganError(f"{self.what} in the pickle has no {name} — it is not the network "
                             "its init kwargs describe (damaged or from a fork)")
        return self.t.pop(name)

    def filters(self) -> None:
        for name in [n for n in self.t if n.endswith("resample_filter")]:
            if not resample_filter_ok(self.t.pop(name)):
                raise refuse(f"{self.what}.{name} is not the [1,3,3,1] resampling filter")

    def done(self) -> None:
        self.filters()
        if self.t:
            name = sorted(self.t)[0]
            raise refuse(f"{self.what} has {name} {list(self.t[name].shape)}, which msgan's "
                         "StyleGAN2 has no place for")


def _shape(a: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    if tuple(a.shape) != tuple(shape):
        raise MsganError(f"{what} has shape {list(a.shape)}, its init kwargs need {list(shape)} "
                         "— the pickle is damaged or from a fork")
    return a


def read(data: dict, notes: list) -> Converted:
    for key in ("G", "D", "G_ema"):
        if not isinstance(data.get(key), Module):
            raise MsganError(f"the pickle has no network {key} (stylegan2-ada-pytorch snapshots "
                             "hold G, D and G_ema) — pass a network-snapshot-*.pkl")
    g = generator_config(data["G_ema"], notes)
    if init_kwargs(data["G"], "G") != init_kwargs(data["G_ema"], "G_ema"):
        raise MsganError("G and G_ema in the pickle are built with different arguments — the "
                         "pickle is damaged or not a stylegan2-ada-pytorch snapshot")
    d = discriminator_config(data["D"], g, notes)
    cfg = dict(z_dim=g["z_dim"], w_dim=g["w_dim"], mapping_layers=g["num_layers"],
               channel_base=g["channel_base"], channel_max=g["channel_max"],
               mbstd_group=d["mbstd_group"], conv_clamp=g["conv_clamp"])
    nets = {"G": generator_weights(data["G"], g, "G"),
            "G_ema": generator_weights(data["G_ema"], g, "G_ema"),
            "D": discriminator_weights(data["D"], g, d)}
    out = Converted(kind="sg2a-pytorch", model_cfg=cfg, resolution=g["resolution"],
                    channels=g["channels"], num_classes=g["c_dim"], nets=nets, notes=notes)
    pipe = data.get("augment_pipe")
    if isinstance(pipe, Module):
        p = (pipe.state.get("_buffers") or {}).get("p")
        if isinstance(p, np.ndarray) and p.size == 1:
            out.augment_p = float(p.reshape(()))
    return out


def _int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise MsganError(f"{what} in the pickle is {v!r}, not an integer — the pickle is damaged")
    return int(v)


def generator_config(G: Module, notes: list) -> dict:
    if G.class_name != "Generator":
        raise MsganError(f"G_ema in the pickle is a {G.class_name}, not stylegan2-ada-pytorch's "
                         "Generator — msgan converts StyleGAN2 networks only")
    kw = init_kwargs(G, "G_ema")
    _known(kw, G_KEYS, "G")
    mk = _sub(kw, "mapping_kwargs", G_MAPPING_KEYS, "G")
    sk = _sub(kw, "synthesis_kwargs", G_SYNTHESIS_KEYS, "G")
    g = dict(z_dim=_int(kw.get("z_dim"), "G z_dim"), c_dim=_int(kw.get("c_dim", 0), "G c_dim"),
             w_dim=_int(kw.get("w_dim"), "G w_dim"),
             resolution=_int(kw.get("img_resolution"), "G img_resolution"),
             channels=_int(kw.get("img_channels"), "G img_channels"),
             num_layers=_int(mk.get("num_layers", 8), "G mapping num_layers"),
             lr_mul=float(mk.get("lr_multiplier", 0.01)),
             channel_base=_int(sk.get("channel_base", 32768), "G channel_base"),
             channel_max=_int(sk.get("channel_max", 512), "G channel_max"),
             conv_clamp=sk.get("conv_clamp"), use_noise=bool(sk.get("use_noise", True)),
             has_w_avg=mk.get("w_avg_beta", 0.995) is not None)
    r = g["resolution"]
    if r < 8 or r > 1024 or r & (r - 1):
        raise refuse(f"G's resolution is {r}; msgan's StyleGAN2 runs 8, 16, ..., 1024")
    if g["channels"] not in (1, 3):
        raise refuse(f"G makes {g['channels']}-channel images; msgan makes 1 (grey) or 3 (RGB)")
    if g["z_dim"] < 1:
        raise refuse("G has no latent input (z_dim 0)")
    if g["num_layers"] < 1:
        raise refuse("G's mapping network has no layers")
    for key, wanted in (("embed_features", g["w_dim"]), ("layer_features", g["w_dim"])):
        if mk.get(key) not in (None, wanted):
            raise refuse(f"G mapping_kwargs.{key} is {mk[key]}, msgan uses w_dim ({wanted})")
    _expect(mk.get("activation", "lrelu"), "lrelu", "G mapping activation")
    _expect(sk.get("architecture", "skip"), "skip", "G architecture")
    _expect(sk.get("activation", "lrelu"), "lrelu", "G synthesis activation")
    _expect(sk.get("kernel_size", 3), 3, "G synthesis kernel_size")
    if not resample_filter_ok(sk.get("resample_filter")):
        raise refuse(f"G resample_filter is {sk.get('resample_filter')}, msgan uses [1,3,3,1]")
    if g["conv_clamp"] is not None:
        g["conv_clamp"] = float(g["conv_clamp"])
    fp16 = _int(sk.get("num_fp16_res", 0), "G num_fp16_res")
    if fp16 > 0:
        notes.append(f"the source runs its {fp16} highest resolutions in fp16, msgan in fp32: "
                     "images differ slightly from the source's own (the weights are the same)")
    if not g["use_noise"]:
        notes.append("the source's G has no noise inputs: converted with noise strength 0")
    if not g["has_w_avg"]:
        notes.append("the source's G tracks no average w: truncation (psi < 1) pulls towards 0")
    return g


def _channels(base: int, cmax: int, res: int) -> int:
    return min(base // res, cmax)


def discriminator_config(D: Module, g: dict, notes: list) -> dict:
    if D.class_name != "Discriminator":
        raise MsganError(f"D in the pickle is a {D.class_name}, not stylegan2-ada-pytorch's "
                         "Discriminator — msgan converts StyleGAN2 networks only")
    kw = init_kwargs(D, "D")
    _known(kw, D_KEYS, "D")
    bk = _sub(kw, "block_kwargs", D_BLOCK_KEYS, "D")
    mk = _sub(kw, "mapping_kwargs", D_MAPPING_KEYS, "D")
    ek = _sub(kw, "epilogue_kwargs", D_EPILOGUE_KEYS, "D")
    same = (("c_dim", "c_dim", 0), ("img_resolution", "resolution", None),
            ("img_channels", "channels", None), ("channel_base", "channel_base", 32768),
            ("channel_max", "channel_max", 512))
    for dkey, gkey, default in same:
        v = kw.get(dkey, default)
        if v != g[gkey]:
            raise refuse(f"D {dkey} is {v} but G's is {g[gkey]}; msgan's G and D share it")
    clamp = kw.get("conv_clamp")
    if (None if clamp is None else float(clamp)) != g["conv_clamp"]:
        raise refuse(f"D conv_clamp is {clamp} but G's is {g['conv_clamp']}; msgan's G and D "
                     "share model.conv_clamp")
    _expect(kw.get("architecture", "resnet"), "resnet", "D architecture")
    _expect(bk.get("activation", "lrelu"), "lrelu", "D activation")
    _expect(ek.get("activation", "lrelu"), "lrelu", "D epilogue activation")
    _expect(ek.get("mbstd_num_channels", 1), 1, "D mbstd_num_channels")
    if not resample_filter_ok(bk.get("resample_filter")):
        raise refuse(f"D resample_filter is {bk.get('resample_filter')}, msgan uses [1,3,3,1]")
    cmap = _channels(g["channel_base"], g["channel_max"], 4) if g["c_dim"] else 0
    if g["c_dim"]:
        if kw.get("cmap_dim") not in (None, cmap):
            raise refuse(f"D cmap_dim is {kw['cmap_dim']}, msgan uses the 4x4 width ({cmap})")
        layers = mk.get("num_layers", 8)
        if layers != D_MAPPING_LAYERS:
            raise refuse(f"D's label mapping has {layers} layers, msgan's has "
                         f"{D_MAPPING_LAYERS}")
        for key in ("embed_features", "layer_features"):
            if mk.get(key) not in (None, cmap):
                raise refuse(f"D mapping_kwargs.{key} is {mk[key]}, msgan uses cmap_dim ({cmap})")
        _expect(mk.get("activation", "lrelu"), "lrelu", "D mapping activation")
    group = ek.get("mbstd_group_size", 4)
    if group is None:
        group = 1 << 16       # SG2A: the whole batch; msgan: the largest divisor <= group
        notes.append("the source's D takes minibatch stddev over the whole batch; msgan's "
                     f"model.mbstd_group is set to {group} (the same for any batch up to that)")
    fp16 = _int(kw.get("num_fp16_res", 0), "D num_fp16_res")
    if fp16 > 0 and not any("fp16" in n for n in notes):
        notes.append(f"the source runs its {fp16} highest resolutions in fp16, msgan in fp32: "
                     "outputs differ slightly from the source's own (the weights are the same)")
    return dict(mbstd_group=_int(group, "D mbstd_group_size"), cmap_dim=cmap,
                lr_mul=float(mk.get("lr_multiplier", 0.01)), layers=D_MAPPING_LAYERS)


def generator_weights(G: Module, g: dict, what: str) -> dict:
    take = _Take(tensors(G), what)
    w, out = g["w_dim"], {}
    ratio = g["lr_mul"] / MSGAN_MAPPING_LR
    out["mapping.w_avg"] = (f32(_shape(take("mapping.w_avg"), (w,), f"{what} mapping.w_avg"))
                            if g["has_w_avg"] else np.zeros((w,), np.float32))
    if g["c_dim"]:
        emb = _shape(take("mapping.embed.weight"), (w, g["c_dim"]), f"{what} mapping.embed.weight")
        out["mapping.embed.weight"] = f32(emb.T)
        out["mapping.embed.bias"] = f32(take("mapping.embed.bias"))
    for i in range(g["num_layers"]):
        out[f"mapping.fcs.{i}.weight"] = f32(take(f"mapping.fc{i}.weight") * ratio)
        out[f"mapping.fcs.{i}.bias"] = f32(take(f"mapping.fc{i}.bias") * ratio)
    log2 = int(math.log2(g["resolution"]))
    for res in [2 ** i for i in range(2, log2 + 1)]:
        src, dst = f"synthesis.b{res}", f"synthesis.{synthesis_index(res)}"
        if res == 4:
            out[f"{dst}.const"] = f32(take(f"{src}.const"))
        for conv in ("conv1",) if res == 4 else ("conv0", "conv1"):
            s, d = f"{src}.{conv}", f"{dst}.{conv}"
            out[f"{d}.conv.weight"] = f32(take(f"{s}.weight"))
            out[f"{d}.bias"] = f32(take(f"{s}.bias"))
            out[f"{d}.affine.weight"] = f32(take(f"{s}.affine.weight"))
            out[f"{d}.affine.bias"] = f32(take(f"{s}.affine.bias"))
            if g["use_noise"]:
                out[f"{d}.noise_const"] = f32(take(f"{s}.noise_const"))
                out[f"{d}.noise_strength"] = f32(take(f"{s}.noise_strength")).reshape(1)
            else:
                out[f"{d}.noise_const"] = np.zeros((res, res), np.float32)
                out[f"{d}.noise_strength"] = np.zeros((1,), np.float32)
        s, d = f"{src}.torgb", f"{dst}.torgb"
        out[f"{d}.conv.weight"] = f32(take(f"{s}.weight"))
        out[f"{d}.bias"] = f32(take(f"{s}.bias"))
        out[f"{d}.affine.weight"] = f32(take(f"{s}.affine.weight"))
        out[f"{d}.affine.bias"] = f32(take(f"{s}.affine.bias"))
    take.done()
    return out


def discriminator_weights(D: Module, g: dict, d: dict) -> dict:
    take = _Take(tensors(D), "D")
    out, top = {}, g["resolution"]
    for res in [2 ** i for i in range(int(math.log2(top)), 2, -1)]:
        src, dst = f"b{res}", f"blocks.{block_index(res, top)}"
        if res == top:
            out[f"{dst}.fromrgb.weight"] = f32(take(f"{src}.fromrgb.weight"))
            out[f"{dst}.fromrgb.bias"] = f32(take(f"{src}.fromrgb.bias"))
        for conv in ("conv0", "conv1"):
            out[f"{dst}.{conv}.weight"] = f32(take(f"{src}.{conv}.weight"))
            out[f"{dst}.{conv}.bias"] = f32(take(f"{src}.{conv}.bias"))
        skip = f32(take(f"{src}.skip.weight"))
        out[f"{dst}.skip.weight"] = skip
        out[f"{dst}.skip.bias"] = np.zeros((skip.shape[0],), np.float32)   # SG2A: no bias
    for name in ("conv", "fc", "out"):
        out[f"epilogue.{name}.weight"] = f32(take(f"b4.{name}.weight"))
        out[f"epilogue.{name}.bias"] = f32(take(f"b4.{name}.bias"))
    if g["c_dim"]:
        cmap, ratio = d["cmap_dim"], d["lr_mul"] / MSGAN_MAPPING_LR
        emb = _shape(take("mapping.embed.weight"), (cmap, g["c_dim"]), "D mapping.embed.weight")
        out["mapping.embed.weight"] = f32(emb.T)
        out["mapping.embed.bias"] = f32(take("mapping.embed.bias"))
        for i in range(d["layers"]):
            out[f"mapping.fcs.{i}.weight"] = f32(take(f"mapping.fc{i}.weight") * ratio)
            out[f"mapping.fcs.{i}.bias"] = f32(take(f"mapping.fc{i}.bias") * ratio)
        out["mapping.w_avg"] = np.zeros((cmap,), np.float32)       # D's mapping never truncates
    take.done()
    return out


def kimg_from_name(name: str):
    """SG2A names its snapshots network-snapshot-<kimg, 6 digits>.pkl."""
    m = re.search(r"network-snapshot-(\d+)\.pkl$", name)
    return float(m.group(1)) if m else None
