"""The PyTorch side of the SG2A parity checks: run with a Python that has torch, never by msgan.

Builds stylegan2-ada-pytorch (SG2A) networks with SG2A's own code from a checkout (``--reference``),
gives every weight a random value (SG2A initialises biases, noise strengths and w_avg to zero,
which would hide a wrong mapping of them), pickles ``dict(G, D, G_ema, augment_pipe,
training_set_kwargs)`` as SG2A's training loop writes ``network-snapshot-*.pkl``, and writes what
SG2A computes from that pickle to an .npz:
  img_<seed>_<class>_<psi>  uint8 (C, R, R): generate.py's image (const noise) for that seed, class
                            (-1: unconditional) and truncation psi;
  d_img, d_c, d_logits      D's logits for a batch of images in [-1, 1] and their labels.

Used by benchmarks/compare_sg2a.py and scripts/make_sg2a_fixture.py. ``--placeholder-src``
replaces the Python source SG2A pickles with each network class by a placeholder, so the pickle
holds numbers and names only (what the test fixtures keep).

  python benchmarks/sg2a_reference.py --reference /path/to/stylegan2-ada-pytorch \
      --out net.pkl --expected expected.npz --resolution 32 --c-dim 0
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import sys

import numpy as np

PLACEHOLDER = "# source removed: msgan never runs the code a network pickle carries\n"


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="stylegan2-ada-pytorch checkout")
    p.add_argument("--out", required=True, help="network pickle to write")
    p.add_argument("--expected", required=True, help=".npz of SG2A's outputs to write")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--c-dim", type=int, default=0)
    p.add_argument("--z-dim", type=int, default=512)
    p.add_argument("--w-dim", type=int, default=512)
    p.add_argument("--map", type=int, default=2, help="G's mapping layers")
    p.add_argument("--channel-base", type=int, default=16384)
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--conv-clamp", type=float, default=256)
    p.add_argument("--fp16-res", type=int, default=0)
    p.add_argument("--mbstd", type=int, default=4)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--psis", default="1,0.5")
    p.add_argument("--classes", default="", help="class indices to render (conditional)")
    p.add_argument("--d-batch", type=int, default=4)
    p.add_argument("--kimg", type=int, default=None, help="name the pickle's kimg (info only)")
    p.add_argument("--augment-p", type=float, default=0.25)
    p.add_argument("--weight-seed", type=int, default=123)
    p.add_argument("--placeholder-src", action="store_true",
                   help="replace the pickled Python source by a placeholder")
    p.add_argument("--tf", action="store_true",
                   help="write a TensorFlow-era StyleGAN2 pickle (G, D, Gs) instead, made by "
                   "inverting SG2A's legacy.py; the expected outputs are those of the networks "
                   "legacy.py reads back from it")
    return p.parse_args(argv)


def _tf_conv(w, flip=False):
    """SG2A [out, in, kh, kw] → TF [kh, kw, in, out] (legacy.py's transpose(3, 2, 0, 1)
    undone; the upsampling conv's taps flipped back)."""
    w = w.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(w[::-1, ::-1] if flip else w)


def tf_variables(G, D, res):
    """{network: {variable name: array}} as TensorFlow StyleGAN2(-ADA) names them."""
    g = {k: v.detach().numpy().astype(np.float32) for k, v in
         list(G.named_parameters()) + list(G.named_buffers())}
    d = {k: v.detach().numpy().astype(np.float32) for k, v in
         list(D.named_parameters()) + list(D.named_buffers())}
    mapping, synthesis = {}, {}
    for k, v in g.items():
        parts = k.split(".")
        if k == "mapping.embed.weight":
            mapping["LabelEmbed/weight"] = v.T
        elif k == "mapping.embed.bias":
            mapping["LabelEmbed/bias"] = v
        elif parts[0] == "mapping" and parts[1].startswith("fc"):
            i = parts[1][2:]
            mapping[f"Dense{i}/{parts[2]}"] = v.T if parts[2] == "weight" else v
    log2 = int(np.log2(res))
    for r in [2 ** i for i in range(2, log2 + 1)]:
        b = f"synthesis.b{r}"
        s = f"{r}x{r}"
        if r == 4:
            synthesis[f"{s}/Const/const"] = g[f"{b}.const"][None]
            convs = [("conv1", "Conv", False, 0)]
        else:
            k = int(np.log2(r)) * 2
            convs = [("conv0", "Conv0_up", True, k - 5), ("conv1", "Conv1", False, k - 4)]
        for conv, name, flip, noise in convs:
            synthesis[f"{s}/{name}/weight"] = _tf_conv(g[f"{b}.{conv}.weight"], flip)
            synthesis[f"{s}/{name}/bias"] = g[f"{b}.{conv}.bias"]
            synthesis[f"{s}/{name}/mod_weight"] = g[f"{b}.{conv}.affine.weight"].T
            synthesis[f"{s}/{name}/mod_bias"] = g[f"{b}.{conv}.affine.bias"] - 1
            synthesis[f"{s}/{name}/noise_strength"] = g[f"{b}.{conv}.noise_strength"]
            synthesis[f"noise{noise}"] = g[f"{b}.{conv}.noise_const"][None, None]
        synthesis[f"{s}/ToRGB/weight"] = _tf_conv(g[f"{b}.torgb.weight"])
        synthesis[f"{s}/ToRGB/bias"] = g[f"{b}.torgb.bias"]
        synthesis[f"{s}/ToRGB/mod_weight"] = g[f"{b}.torgb.affine.weight"].T
        synthesis[f"{s}/ToRGB/mod_bias"] = g[f"{b}.torgb.affine.bias"] - 1
    dv = {}
    for r in [2 ** i for i in range(log2, 2, -1)]:
        b, s = f"b{r}", f"{r}x{r}"
        if r == res:
            dv[f"{s}/FromRGB/weight"] = _tf_conv(d[f"{b}.fromrgb.weight"])
            dv[f"{s}/FromRGB/bias"] = d[f"{b}.fromrgb.bias"]
        dv[f"{s}/Conv0/weight"] = _tf_conv(d[f"{b}.conv0.weight"])
        dv[f"{s}/Conv0/bias"] = d[f"{b}.conv0.bias"]
        dv[f"{s}/Conv1_down/weight"] = _tf_conv(d[f"{b}.conv1.weight"])
        dv[f"{s}/Conv1_down/bias"] = d[f"{b}.conv1.bias"]
        dv[f"{s}/Skip/weight"] = _tf_conv(d[f"{b}.skip.weight"])
    dv["4x4/Conv/weight"] = _tf_conv(d["b4.conv.weight"])
    dv["4x4/Conv/bias"] = d["b4.conv.bias"]
    dv["4x4/Dense0/weight"] = d["b4.fc.weight"].T
    dv["4x4/Dense0/bias"] = d["b4.fc.bias"]
    dv["Output/weight"] = d["b4.out.weight"].T
    dv["Output/bias"] = d["b4.out.bias"]
    return dict(G=dict(dlatent_avg=g["mapping.w_avg"]), mapping=mapping, synthesis=synthesis, D=dv)


def write_tf_pickle(a, data, path):
    """(G, D, Gs) as dnnlib.tflib.network.Network objects, as TF StyleGAN2 pickles them."""
    import types
    mod = types.ModuleType("dnnlib.tflib.network")

    class Network:
        def __init__(self, name, kwargs, variables, components=None):
            self.state = dict(version=4, name=name, static_kwargs=kwargs,
                              components=components or {}, build_module_src=PLACEHOLDER,
                              build_func_name="G_main", variables=list(variables.items()),
                              input_shapes=[[None, a.z_dim]], output_shapes=[[None, 3]],
                              input_names=["latents_in"], output_names=["images_out"])

        def __getstate__(self):
            return self.state

    Network.__module__, Network.__qualname__ = mod.__name__, "Network"
    mod.Network = Network
    sys.modules["dnnlib.tflib"] = types.ModuleType("dnnlib.tflib")
    sys.modules[mod.__name__] = mod
    common = dict(resolution=a.resolution, num_channels=a.channels, label_size=a.c_dim,
                  fmap_base=a.channel_base // 2, fmap_max=a.channel_max,
                  conv_clamp=a.conv_clamp if a.conv_clamp > 0 else None)
    gk = dict(common, latent_size=a.z_dim, dlatent_size=a.w_dim, mapping_layers=a.map,
              architecture="skip", truncation_psi=0.5)
    dk = dict(common, architecture="resnet")

    def gnet(G, name):
        v = tf_variables(G, data["D"], a.resolution)
        return Network(name, dict(gk), v["G"], {
            "mapping": Network("G_mapping", dict(gk), v["mapping"]),
            "synthesis": Network("G_synthesis", dict(gk), v["synthesis"])})

    dvars = tf_variables(data["G"], data["D"], a.resolution)["D"]
    nets = (gnet(data["G"], "G"), Network("D", dk, dvars), gnet(data["G_ema"], "Gs"))
    with open(path, "wb") as f:
        pickle.dump(nets, f, protocol=3)


def randomise(module, torch, gen, scale=0.2):
    """Every zero-initialised tensor gets random values; affine biases stay near their init 1."""
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("resample_filter"):
                continue
            noise = torch.randn(t.shape, generator=gen, dtype=t.dtype)
            if name.endswith("affine.bias"):
                t.copy_(1.0 + 0.1 * noise)
            elif t.numel() and float(t.abs().max()) == 0.0:
                t.copy_(scale * noise)
            else:
                t.add_(0.05 * noise)


def main(argv=None):
    a = parse(argv)
    sys.path.insert(0, os.path.abspath(a.reference))
    import torch
    import dnnlib
    from torch_utils import persistence
    from training import augment, networks

    torch.manual_seed(a.weight_seed)
    gen = torch.Generator().manual_seed(a.weight_seed)
    clamp = a.conv_clamp if a.conv_clamp > 0 else None
    G_kwargs = dict(z_dim=a.z_dim, c_dim=a.c_dim, w_dim=a.w_dim, img_resolution=a.resolution,
                    img_channels=a.channels,
                    mapping_kwargs=dnnlib.EasyDict(num_layers=a.map),
                    synthesis_kwargs=dnnlib.EasyDict(channel_base=a.channel_base,
                                                     channel_max=a.channel_max,
                                                     num_fp16_res=a.fp16_res, conv_clamp=clamp))
    D_kwargs = dict(c_dim=a.c_dim, img_resolution=a.resolution, img_channels=a.channels,
                    channel_base=a.channel_base, channel_max=a.channel_max,
                    num_fp16_res=a.fp16_res, conv_clamp=clamp,
                    block_kwargs=dnnlib.EasyDict(), mapping_kwargs=dnnlib.EasyDict(),
                    epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=a.mbstd))
    G = networks.Generator(**G_kwargs).train().requires_grad_(False)
    D = networks.Discriminator(**D_kwargs).train().requires_grad_(False)
    randomise(G, torch, gen)
    randomise(D, torch, gen)
    G_ema = copy.deepcopy(G).eval()
    randomise(G_ema, torch, gen, scale=0.1)     # G_ema differs from G, as after training
    # Random weights make a much larger image than a trained G: scale the last toRGB down so
    # the images are not all clipped (a clipped pixel tells nothing about the mapping).
    with torch.no_grad():
        for net in (G, G_ema):
            last = getattr(net.synthesis, f"b{a.resolution}").torgb
            last.weight.mul_(0.3)
    pipe = augment.AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                               brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
    pipe.p.copy_(torch.as_tensor(a.augment_p))

    # As training/training_loop.py writes a snapshot.
    data = dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset",
                                         path="dataset.zip", use_labels=a.c_dim > 0,
                                         max_size=None, xflip=False, resolution=a.resolution))
    for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", pipe)]:
        data[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    if a.tf:
        import legacy
        write_tf_pickle(a, data, a.out)
        with open(a.out, "rb") as f:       # what SG2A makes of it
            data = legacy.load_network_pkl(f)
    else:
        if a.placeholder_src:   # after the deep copies above, which re-run the pickled source
            for cls in persistence._decorators:
                cls._orig_module_src = PLACEHOLDER
        with open(a.out, "wb") as f:
            pickle.dump(data, f)

    # What SG2A computes from it (generate.py's formula, const noise).
    out = {}
    G_ema = data["G_ema"]
    classes = [int(c) for c in a.classes.split(",") if c] if a.c_dim else [-1]
    for seed in [int(s) for s in a.seeds.split(",") if s]:
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, G_ema.z_dim))
        for cls in classes:
            label = torch.zeros([1, G_ema.c_dim])
            if cls >= 0:
                label[:, cls] = 1
            for psi in [float(p) for p in a.psis.split(",")]:
                img = G_ema(z, label, truncation_psi=psi, noise_mode="const")
                img = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
                out[f"img_{seed}_{cls}_{psi:g}"] = img[0].permute(2, 0, 1).numpy()
    rng = np.random.RandomState(7)
    d_img = np.clip(rng.standard_normal((a.d_batch, a.channels, a.resolution, a.resolution)) * 0.5,
                    -1, 1).astype(np.float32)
    d_c = rng.randint(0, max(a.c_dim, 1), a.d_batch).astype(np.int32)
    c = torch.zeros([a.d_batch, a.c_dim])
    if a.c_dim:
        c[torch.arange(a.d_batch), torch.from_numpy(d_c).long()] = 1
    with torch.no_grad():
        logits = data["D"](torch.from_numpy(d_img), c)
    out.update(d_img=d_img, d_c=d_c, d_logits=logits.reshape(-1).numpy().astype(np.float32))
    out["args"] = np.array(json.dumps(vars(a)))
    np.savez_compressed(a.expected, **out)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) and {a.expected}")


if __name__ == "__main__":
    main()
