"""Compiled training phases, one file per family; ``base.py`` holds what they share.

``build_phases(cfg, num_classes)`` builds the model's nets and its family's phases; the family is
``MODELS[cfg.model.name].phases``, a key of ``PHASES``.
"""
from __future__ import annotations

from msgan.config import Config
from msgan.models import MODELS
from msgan.train.phases.base import Phases
from msgan.train.phases.classic import ClassicPhases
from msgan.train.phases.srgan import SRGANPhases
from msgan.train.phases.stylegan2 import StyleGAN2Phases
from msgan.train.phases.translate import CycleGANPhases, DiscoGANPhases, Pix2PixPhases

PHASES = {"classic": ClassicPhases, "stylegan2": StyleGAN2Phases, "pix2pix": Pix2PixPhases,
          "cyclegan": CycleGANPhases, "discogan": DiscoGANPhases, "srgan": SRGANPhases}


def build_nets(cfg: Config, num_classes: int) -> dict:
    """The model's networks by name: G, D and G_ema (G's initial weights) for noise models, the
    model's own dict for translation models."""
    spec, d = MODELS[cfg.model.name], cfg.data
    if spec.task == "translate":
        return spec.build(cfg.model, d.resolution, d.channels)
    G, D = spec.build(cfg.model, d.resolution, d.channels, num_classes)
    G_ema, _ = spec.build(cfg.model, d.resolution, d.channels, num_classes)
    for pe, p in zip(G_ema.get_parameters(), G.get_parameters()):
        pe.set_data(p.data.copy())     # before any graph is compiled, so set_data is fine
    return {"G": G, "D": D, "G_ema": G_ema}


def build_phases(cfg: Config, num_classes: int, rank: int = 0, world_size: int = 1) -> Phases:
    """The nets of ``cfg.model`` and its family's phases (``num_classes``: 0 unconditional;
    ignored by translation models)."""
    nets = build_nets(cfg, num_classes)
    return PHASES[MODELS[cfg.model.name].phases](cfg, nets, rank=rank, world_size=world_size)
