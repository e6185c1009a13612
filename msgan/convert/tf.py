"""TensorFlow-era StyleGAN2 / StyleGAN2-ADA pickles → msgan's StyleGAN2 config and weights.

Such a pickle is the tuple (G, D, Gs) of ``dnnlib.tflib.network.Network`` objects; each one's
state holds ``static_kwargs`` (the build function's arguments), ``components`` (sub-networks:
G's mapping and synthesis) and ``variables`` ((name, numpy array) pairs). The build function's
source it also holds is never looked at. The kwargs and variable names are those that
stylegan2-ada-pytorch's legacy.py reads; the layouts differ from SG2A's as there: dense weights
are [in, out], conv weights [kh, kw, in, out] (the upsampling conv's flipped), modulation biases
are stored minus their init 1, the constant and the noise maps carry leading unit axes.
"""
from __future__ import annotations

import math

import numpy as np

from msgan.convert.source import (MSGAN_MAPPING_LR, Converted, block_index, f32, refuse,
                                  resample_filter_ok, synthesis_index)
from msgan.convert.unpickle import TFNetwork
from msgan.errors import MsganError

G_KWARGS = {"latent_size", "label_size", "dlatent_size", "resolution", "num_channels",
            "mapping_layers", "label_fmaps", "mapping_fmaps", "mapping_nonlinearity",
            "mapping_lrmul", "w_avg_beta", "fmap_base", "fmap_max", "num_fp16_res", "conv_clamp",
            "architecture", "resample_kernel", "use_noise", "nonlinearity",
            # runtime defaults of the TF graph, not part of the network
            "truncation_psi", "truncation_cutoff", "style_mixing_prob", "structure"}
D_KWARGS = {"label_size", "resolution", "num_channels", "architecture", "fmap_base", "fmap_max",
            "num_fp16_res", "conv_clamp", "mapping_fmaps", "nonlinearity", "resample_kernel",
            "freeze_layers", "mapping_layers", "mapping_lrmul", "mbstd_group_size",
            "mbstd_num_features", "structure"}
D_MAPPING_LAYERS = 8


def is_tf(data) -> bool:
    return (isinstance(data, tuple) and len(data) == 3
            and all(isinstance(n, TFNetwork) for n in data))


def variables(net: TFNetwork, prefix: str = "") -> dict:
    """{name: array} of a network and its components (names prefixed by component)."""
    out = {}
    for pair in net.get("variables") or []:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str)):
            raise MsganError("a TensorFlow network in the pickle lists a malformed variable — "
                             "the pickle is damaged")
        name, value = pair
        if not isinstance(value, np.ndarray):
            value = np.asarray(value)
            if value.dtype == object:
                raise MsganError(f"TensorFlow variable {prefix}{name} is not numeric — the pickle "
                                 "is damaged")
        out[prefix + name] = value
    for cname, comp in (net.get("components") or {}).items():
        if not isinstance(comp, TFNetwork):
            raise MsganError(f"TensorFlow component {prefix}{cname} is not a network — the pickle "
                             "is damaged")
        out.update(variables(comp, f"{prefix}{cname}/"))
    return out


def _kwargs(net: TFNetwork, allowed: set, what: str) -> dict:
    version = net.get("version")
    if not isinstance(version, int) or version < 4:
        raise refuse(f"the TensorFlow {what} is a version {version} network (StyleGAN1 or "
                     "StyleGAN2 before its release); msgan reads versions 4 and 5")
    kw = dict(net.get("static_kwargs") or {})
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise refuse(f"the TensorFlow {what} has the argument {unknown[0]}="
                     f"{kw[unknown[0]]!r}, which StyleGAN2(-ADA)'s networks do not have "
                     "(StyleGAN2 configs A-D, a comparison method, a fork?)")
    return kw


def _get(kw: dict, key: str, default):
    v = kw.get(key, default)
    return default if v is None else v


class _Vars:
    def __init__(self, t: dict, what: str):
        self.t, self.what = t, what

    def __call__(self, name: str) -> np.ndarray:
        if name not in self.t:
            raise MsganError(f"the TensorFlow {self.what} has no variable {name} — it is not the "
                             "StyleGAN2 network its kwargs describe (damaged, or another config)")
        return self.t[name]


def _dense(v) -> np.ndarray:
    return f32(np.asarray(v).T)


def _conv(v, flip: bool = False) -> np.ndarray:
    v = np.asarray(v)
    if flip:
        v = v[::-1, ::-1]
    return f32(v.transpose(3, 2, 0, 1))


def read(data: tuple, notes: list) -> Converted:
    tf_G, tf_D, tf_Gs = data
    kw = _kwargs(tf_Gs, G_KWARGS, "G")
    if _kwargs(tf_G, G_KWARGS, "G") != kw:
        raise MsganError("G and Gs in the TensorFlow pickle are built with different arguments "
                         "— the pickle is damaged")
    g = dict(z_dim=int(_get(kw, "latent_size", 512)), c_dim=int(_get(kw, "label_size", 0)),
             w_dim=int(_get(kw, "dlatent_size", 512)),
             resolution=int(_get(kw, "resolution", 1024)),
             channels=int(_get(kw, "num_channels", 3)),
             num_layers=int(_get(kw, "mapping_layers", 8)),
             lr_mul=float(_get(kw, "mapping_lrmul", 0.01)),
             channel_base=int(_get(kw, "fmap_base", 16384)) * 2,
             channel_max=int(_get(kw, "fmap_max", 512)),
             conv_clamp=kw.get("conv_clamp"), use_noise=bool(_get(kw, "use_noise", True)))
    r = g["resolution"]
    if r < 8 or r > 1024 or r & (r - 1):
        raise refuse(f"G's resolution is {r}; msgan's StyleGAN2 runs 8, 16, ..., 1024")
    if g["channels"] not in (1, 3):
        raise refuse(f"G makes {g['channels']}-channel images; msgan makes 1 (grey) or 3 (RGB)")
    for key in ("label_fmaps", "mapping_fmaps"):
        if kw.get(key) not in (None, g["w_dim"]):
            raise refuse(f"G {key} is {kw[key]}, msgan uses dlatent_size ({g['w_dim']})")
    for key, default, wanted in (("mapping_nonlinearity", "lrelu", "lrelu"),
                                 ("nonlinearity", "lrelu", "lrelu"),
                                 ("architecture", "skip", "skip")):
        if _get(kw, key, default) != wanted:
            raise refuse(f"G {key} is {kw[key]!r}, msgan supports only {wanted!r}")
    if not resample_filter_ok(_get(kw, "resample_kernel", [1, 3, 3, 1])):
        raise refuse(f"G resample_kernel is {kw['resample_kernel']}, msgan uses [1,3,3,1]")
    if g["conv_clamp"] is not None:
        g["conv_clamp"] = float(g["conv_clamp"])
    if int(_get(kw, "num_fp16_res", 0)) > 0:
        notes.append("the source runs its highest resolutions in fp16, msgan in fp32: images "
                     "differ slightly from the source's own (the weights are the same)")
    if not g["use_noise"]:
        notes.append("the source's G has no noise inputs: converted with noise strength 0")

    dkw = _kwargs(tf_D, D_KWARGS, "D")
    for key, gkey, default in (("label_size", "c_dim", 0), ("resolution", "resolution", 1024),
                               ("num_channels", "channels", 3)):
        if int(_get(dkw, key, default)) != g[gkey]:
            raise refuse(f"D {key} is {dkw.get(key)} but G's is {g[gkey]}; msgan's G and D "
                         "share it")
    if int(_get(dkw, "fmap_base", 16384)) * 2 != g["channel_base"] or \
            int(_get(dkw, "fmap_max", 512)) != g["channel_max"]:
        raise refuse("D's fmap_base/fmap_max differ from G's; msgan's G and D share them")
    dclamp = dkw.get("conv_clamp")
    if (None if dclamp is None else float(dclamp)) != g["conv_clamp"]:
        raise refuse(f"D conv_clamp is {dclamp} but G's is {g['conv_clamp']}; msgan's G and D "
                     "share model.conv_clamp")
    for key, default, wanted in (("architecture", "resnet", "resnet"),
                                 ("nonlinearity", "lrelu", "lrelu"),
                                 ("mbstd_num_features", 1, 1)):
        if _get(dkw, key, default) != wanted:
            raise refuse(f"D {key} is {dkw[key]!r}, msgan supports only {wanted!r}")
    if not resample_filter_ok(_get(dkw, "resample_kernel", [1, 3, 3, 1])):
        raise refuse(f"D resample_kernel is {dkw['resample_kernel']}, msgan uses [1,3,3,1]")
    cmap = min(g["channel_base"] // 4, g["channel_max"]) if g["c_dim"] else 0
    d_layers = int(_get(dkw, "mapping_layers", 0))
    if g["c_dim"]:
        if dkw.get("mapping_fmaps") not in (None, cmap):
            raise refuse(f"D mapping_fmaps is {dkw['mapping_fmaps']}, msgan uses the 4x4 width "
                         f"({cmap})")
        if d_layers != D_MAPPING_LAYERS:
            raise refuse(f"D's label mapping has {d_layers} layers (StyleGAN2-ADA TensorFlow's "
                         f"default), msgan's has {D_MAPPING_LAYERS}")
    # TensorFlow StyleGAN2's D groups 4 samples unless told otherwise (D_stylegan2's default).
    group = int(_get(dkw, "mbstd_group_size", 4))

    cfg = dict(z_dim=g["z_dim"], w_dim=g["w_dim"], mapping_layers=g["num_layers"],
               channel_base=g["channel_base"], channel_max=g["channel_max"],
               mbstd_group=group, conv_clamp=g["conv_clamp"])
    nets = {"G": generator(tf_G, g, "G"), "G_ema": generator(tf_Gs, g, "Gs"),
            "D": discriminator(tf_D, g, dict(cmap=cmap, layers=d_layers,
                                             lr_mul=float(_get(dkw, "mapping_lrmul", 0.1))))}
    return Converted(kind="sg2-tf", model_cfg=cfg, resolution=g["resolution"],
                     channels=g["channels"], num_classes=g["c_dim"], nets=nets, notes=notes)


def generator(net: TFNetwork, g: dict, what: str) -> dict:
    t = variables(net)
    if any(n.startswith("synthesis/ToRGB_lod") for n in t):
        raise refuse(f"the TensorFlow {what} has the 'orig' (progressive ToRGB_lod) "
                     "architecture; msgan's G is 'skip'")
    v, out = _Vars(t, what), {}
    ratio = g["lr_mul"] / MSGAN_MAPPING_LR
    out["mapping.w_avg"] = f32(v("dlatent_avg"))
    if g["c_dim"]:
        out["mapping.embed.weight"] = f32(v("mapping/LabelEmbed/weight"))     # [c_dim, w_dim]
        out["mapping.embed.bias"] = f32(v("mapping/LabelEmbed/bias"))
    for i in range(g["num_layers"]):
        out[f"mapping.fcs.{i}.weight"] = _dense(v(f"mapping/Dense{i}/weight")) * ratio
        out[f"mapping.fcs.{i}.bias"] = f32(v(f"mapping/Dense{i}/bias")) * ratio
    log2 = int(math.log2(g["resolution"]))
    for res in [2 ** i for i in range(2, log2 + 1)]:
        src, dst = f"synthesis/{res}x{res}", f"synthesis.{synthesis_index(res)}"
        if res == 4:
            out[f"{dst}.const"] = f32(v(f"{src}/Const/const")[0])
            layers = (("conv1", "Conv", False, 0),)
        else:
            k = int(math.log2(res)) * 2
            layers = (("conv0", "Conv0_up", True, k - 5), ("conv1", "Conv1", False, k - 4))
        for conv, tf_name, flip, noise in layers:
            s, d = f"{src}/{tf_name}", f"{dst}.{conv}"
            out[f"{d}.conv.weight"] = _conv(v(f"{s}/weight"), flip)
            out[f"{d}.bias"] = f32(v(f"{s}/bias"))
            out[f"{d}.affine.weight"] = _dense(v(f"{s}/mod_weight"))
            out[f"{d}.affine.bias"] = f32(v(f"{s}/mod_bias")) + 1
            if g["use_noise"]:
                out[f"{d}.noise_const"] = f32(v(f"synthesis/noise{noise}")[0, 0])
                out[f"{d}.noise_strength"] = f32(v(f"{s}/noise_strength")).reshape(1)
            else:
                out[f"{d}.noise_const"] = np.zeros((res, res), np.float32)
                out[f"{d}.noise_strength"] = np.zeros((1,), np.float32)
        s, d = f"{src}/ToRGB", f"{dst}.torgb"
        out[f"{d}.conv.weight"] = _conv(v(f"{s}/weight"))
        out[f"{d}.bias"] = f32(v(f"{s}/bias"))
        out[f"{d}.affine.weight"] = _dense(v(f"{s}/mod_weight"))
        out[f"{d}.affine.bias"] = f32(v(f"{s}/mod_bias")) + 1
    return out


def discriminator(net: TFNetwork, g: dict, d: dict) -> dict:
    t = variables(net)
    if any(n.startswith("FromRGB_lod") for n in t):
        raise refuse("the TensorFlow D has the 'orig' (progressive FromRGB_lod) architecture; "
                     "msgan's D is 'resnet'")
    v, out, top = _Vars(t, "D"), {}, g["resolution"]
    for res in [2 ** i for i in range(int(math.log2(top)), 2, -1)]:
        src, dst = f"{res}x{res}", f"blocks.{block_index(res, top)}"
        if res == top:
            out[f"{dst}.fromrgb.weight"] = _conv(v(f"{src}/FromRGB/weight"))
            out[f"{dst}.fromrgb.bias"] = f32(v(f"{src}/FromRGB/bias"))
        out[f"{dst}.conv0.weight"] = _conv(v(f"{src}/Conv0/weight"))
        out[f"{dst}.conv0.bias"] = f32(v(f"{src}/Conv0/bias"))
        out[f"{dst}.conv1.weight"] = _conv(v(f"{src}/Conv1_down/weight"))
        out[f"{dst}.conv1.bias"] = f32(v(f"{src}/Conv1_down/bias"))
        skip = _conv(v(f"{src}/Skip/weight"))
        out[f"{dst}.skip.weight"] = skip
        out[f"{dst}.skip.bias"] = np.zeros((skip.shape[0],), np.float32)
    out["epilogue.conv.weight"] = _conv(v("4x4/Conv/weight"))
    out["epilogue.conv.bias"] = f32(v("4x4/Conv/bias"))
    out["epilogue.fc.weight"] = _dense(v("4x4/Dense0/weight"))
    out["epilogue.fc.bias"] = f32(v("4x4/Dense0/bias"))
    out["epilogue.out.weight"] = _dense(v("Output/weight"))
    out["epilogue.out.bias"] = f32(v("Output/bias"))
    if g["c_dim"]:
        ratio = d["lr_mul"] / MSGAN_MAPPING_LR
        out["mapping.embed.weight"] = f32(v("LabelEmbed/weight"))     # [c_dim, cmap]
        out["mapping.embed.bias"] = f32(v("LabelEmbed/bias"))
        for i in range(d["layers"]):
            out[f"mapping.fcs.{i}.weight"] = _dense(v(f"Mapping{i}/weight")) * ratio
            out[f"mapping.fcs.{i}.bias"] = f32(v(f"Mapping{i}/bias")) * ratio
        out["mapping.w_avg"] = np.zeros((d["cmap"],), np.float32)
    return out
