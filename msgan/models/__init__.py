"""The model registry: ``MODELS[name]`` is everything msgan needs to know about a model.

A plain dict, filled here by hand: adding a model means its file (Config dataclass, G, D,
``build``, ``export_net``), one line below, its phases (``msgan/train/phases``), a YAML config
and tests (ARCHITECTURE.md, "Adding a model"). msgan.config reads the ``model:`` section's
dataclass, resolution range and task from here.

A Config is a dataclass deriving from ``config_base.ModelConfig``: ``validate(cfg)`` checks its
values (``cfg`` is the whole run config), ``with_data(num_images) -> (config, note or None)``
fills in the values that stay ``auto`` until the training images are counted.

Noise-to-image models (``task == "noise"``): ``build(cfg, resolution, channels, num_classes) ->
(G, D)``. Image-to-image models (``task == "translate"``): ``build(cfg, resolution, channels) ->
{name: Cell}`` with the generators named in ``generators``, and ``generator(cfg, resolution,
channels)`` builds one generator (eval copies, inference). ``export_net(G)`` is the generator as
exported (``construct(z[, c][, psi])`` or ``construct(x)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from msgan.models import cyclegan, dcgan, discogan, mlp_gan, pix2pix, srgan, stylegan2


@dataclass(frozen=True)
class ModelSpec:
    config: type                       # the ``model:`` section's dataclass
    build: Callable
    export_net: Callable
    task: str                          # "noise" (class folders in, new images out) | "translate"
    phases: str                        # the family in msgan.train.phases.PHASES
    resolution: Tuple[int, int]        # smallest and largest data.resolution (powers of two)
    layout: str = "classes"            # the data layout: classes | paired | unpaired | sr
    generators: Tuple[str, ...] = ("G",)
    generator: Optional[Callable] = None   # translate: one generator, for eval copies/inference
    truncation: bool = False           # the exported generator takes a psi input


MODELS = {
    "gan": ModelSpec(mlp_gan.MLPGANConfig, mlp_gan.build, mlp_gan.export_net, "noise", "classic",
                     (4, 256)),
    "dcgan": ModelSpec(dcgan.DCGANConfig, dcgan.build, dcgan.export_net, "noise", "classic",
                       (32, 256)),
    "stylegan2": ModelSpec(stylegan2.StyleGAN2Config, stylegan2.build, stylegan2.export_net,
                           "noise", "stylegan2", (8, 1024), truncation=True),
    "pix2pix": ModelSpec(pix2pix.Pix2PixConfig, pix2pix.build, pix2pix.export_net, "translate",
                         "pix2pix", (16, 1024), "paired", pix2pix.GENERATORS, pix2pix.generator),
    "cyclegan": ModelSpec(cyclegan.CycleGANConfig, cyclegan.build, cyclegan.export_net,
                          "translate", "cyclegan", (16, 1024), "unpaired", cyclegan.GENERATORS,
                          cyclegan.generator),
    "discogan": ModelSpec(discogan.DiscoGANConfig, discogan.build, discogan.export_net,
                          "translate", "discogan", (16, 256), "unpaired", discogan.GENERATORS,
                          discogan.generator),
    "srgan": ModelSpec(srgan.SRGANConfig, srgan.build, srgan.export_net, "translate", "srgan",
                       (16, 1024), "sr", srgan.GENERATORS, srgan.generator),
}
