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
    return p.parse_args(argv)


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
    if a.placeholder_src:     # after the deep copies above, which re-run the pickled source
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
