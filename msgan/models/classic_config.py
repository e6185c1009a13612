"""The config keys the classic GANs (MLP GAN, DCGAN) share, and their checks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from msgan.checks import choice, positive
from msgan.errors import MsganError
from msgan.models.config_base import ModelConfig


@dataclass
class ClassicGANConfig(ModelConfig):
    """Keys shared by the classic GANs, with the small-data options (benchmarks/RESULTS.md has
    the measurements behind the defaults)."""
    name: str = ""
    z_dim: int = 100
    label_smoothing: float = 1.0     # target for real labels in D's BCE; 0.9 = one-sided smoothing
    instance_noise: float = 0.0      # initial std of Gaussian noise on D's inputs, linear decay to 0
    d_dropout: float = 0.0
    z_dist: str = "gaussian"         # gaussian | uniform
    embed_dim: int = 32              # label embedding size when the data has classes
    augment: str = "diffaug"         # none | diffaug (DiffAugment) | ada (SG2A's pipe + p control)
    augment_p: Optional[float] = None  # diffaug: chance per image (auto 1); ada: initial p (auto 0)
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 20.0           # kimg for p to move from 0 to 1 (SG2A: 500, for long runs)
    loss: str = "bce"                # bce (non-saturating) | hinge
    spectral_norm: bool = False      # spectral normalisation of D's weights
    r1_gamma: float = 0.0            # zero-centred R1 on reals (0 = off)
    r1_interval: int = 16            # lazy R1: every this many steps, scaled to match
    ac_weight: float = 0.0           # auxiliary class loss (AC-GAN): D classifies the reals it
                                     # sees, G is trained to make it see G's class (0 = off)
    mode_seeking: float = 0.0        # weight of MSGAN's mode-seeking term in G's loss: two
                                     # latents of one class must give different images (0 = off)
    lecam_weight: float = 0.0        # LeCam regulariser of D for limited data (Tseng et al.
                                     # 2021; 0.3 in their DiffAugment runs; 0 = off)

    def validate(self, cfg) -> None:
        choice("model.z_dist", self.z_dist, ("gaussian", "uniform"))
        positive("model.z_dim", self.z_dim)
        positive("model.embed_dim", self.embed_dim)
        if not 0.5 <= self.label_smoothing <= 1.0:
            raise MsganError(f"config key model.label_smoothing is {self.label_smoothing} — use "
                             "a target in [0.5, 1] (1 = off, 0.9 is typical)")
        positive("model.instance_noise", self.instance_noise, allow_zero=True)
        if not 0.0 <= self.d_dropout < 1.0:
            raise MsganError(f"config key model.d_dropout is {self.d_dropout} — use 0 <= p < 1")
        choice("model.augment", self.augment, ("none", "diffaug", "ada"))
        choice("model.loss", self.loss, ("bce", "hinge"))
        if self.augment_p is not None and not 0.0 <= self.augment_p <= 1.0:
            raise MsganError(f"config key model.augment_p is {self.augment_p} — use 0..1")
        if not 0.0 < self.ada_target < 1.0:
            raise MsganError(f"config key model.ada_target is {self.ada_target} — use 0 < t < 1")
        for key in ("ada_interval", "ada_kimg", "r1_interval"):
            positive(f"model.{key}", getattr(self, key))
        positive("model.r1_gamma", self.r1_gamma, allow_zero=True)
        positive("model.ac_weight", self.ac_weight, allow_zero=True)
        positive("model.mode_seeking", self.mode_seeking, allow_zero=True)
        positive("model.lecam_weight", self.lecam_weight, allow_zero=True)
        if self.loss == "hinge" and self.label_smoothing != 1.0:
            raise MsganError("model.label_smoothing only applies to loss=bce — set "
                             "model.label_smoothing=1.0 or model.loss=bce")
