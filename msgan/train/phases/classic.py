"""Compiled training steps for the classic GANs (MLP GAN, DCGAN).

One ``ms.jit`` function per phase (D step, G step, EMA, sampling), each with at most one
optimizer: two optimizers in one graph clash on their state names in MindSpore 2.10.
Values that change during training (instance-noise std, augmentation p, EMA beta) enter as
Tensors so the graphs compile once; augmentation draws come from the host generator, which is
part of ``host_state`` so a resumed run repeats the uninterrupted one.
"""
from __future__ import annotations

import numpy as np
import mindspore as ms
from mindspore import Tensor, ops

from msgan import augment as augmentations
from msgan import losses
from msgan.augment.ada import AdaController
from msgan.config import Config, OptimizerConfig, resolve_auto_values
from msgan.train import amp
from msgan.train.phases.base import Nets, grad_reducer, guarded_update, make_adam, sample_z, scaled


class ClassicPhases:
    """D step (and lazy R1) then G step per iteration, with the classic stability options and the
    small-data ones: augmentation of everything D sees, hinge loss, R1, spectral norm (in D)."""

    def __init__(self, cfg: Config, G, D, G_ema, num_classes: int, rank: int = 0,
                 world_size: int = 1):
        self.nets = Nets(G, D, G_ema)
        self.G, self.D, self.G_ema = G, D, G_ema
        m = cfg.model
        self.z_dim, self.z_dist = m.z_dim, m.z_dist
        self.num_classes = num_classes
        # every rank draws its own latents; weights stay identical through the reduced gradients
        self.rng = np.random.default_rng([cfg.train.seed + 1, rank])
        self.real_target = float(m.label_smoothing)
        self.instance_noise = float(m.instance_noise)
        self.loss = m.loss
        self.progress = 0.0                      # fraction of the schedule done; set by the loop
        self.augment, self._draw = augmentations.build(m.augment, G.resolution, G.channels)
        p_init = resolve_auto_values(cfg).get(("model", "augment_p"), (m.augment_p,))[0]
        self.augment_p = float(p_init)
        self.ada = None
        if m.augment == "ada":
            self.ada = AdaController(m.ada_target, m.ada_interval, m.ada_kimg,
                                     cfg.train.batch_size, p_init)
        self.r1_gamma, self.r1_interval = float(m.r1_gamma), int(m.r1_interval)
        self.opt_G = make_adam(G.trainable_params(), cfg.train.G_opt)
        d_opt = cfg.train.D_opt
        if self.r1_gamma > 0:   # lazy regularisation keeps Adam's effective lr (StyleGAN2 App. B)
            lr, betas = losses.lazy_adam_params(d_opt.lr, d_opt.betas, self.r1_interval)
            d_opt = OptimizerConfig(lr=lr, betas=list(betas), eps=d_opt.eps)
        self.opt_D = make_adam(D.trainable_params(), d_opt)
        self.reduce_G = grad_reducer(self.opt_G, world_size)
        self.reduce_D = grad_reducer(self.opt_D, world_size)
        self.scales = amp.loss_scales(cfg.train.amp)
        # after Nets named the Parameters; G_ema stays fp32 (samples, exports)
        self.G_run = amp.cast_network(G, cfg.train.amp)
        self.D_run = amp.cast_network(D, cfg.train.amp)
        G.set_train(True)
        D.set_train(True)
        G_ema.set_train(False)
        self._compile(cfg.train.jit_level)

    def _compile(self, jit_level: str):
        G, D, augment = self.G_run, self.D_run, self.augment
        real_target, use_noise = self.real_target, self.instance_noise > 0
        hinge = self.loss == "hinge"
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")
        r1_scale = self.r1_gamma / 2 * self.r1_interval

        def seen_by_D(images, noise_std, p, rand):
            """What D is shown: augmented images (reals and fakes alike), plus instance noise."""
            if augment is not None:
                images = augment.apply(images, p, rand)
            if use_noise:   # instance noise (Sønderby et al. 2016): blur both distributions for D
                images = images + noise_std * ops.standard_normal(images.shape)
            return images

        def d_loss(reals, labels, z, noise_std, p, rand_real, rand_fake):
            fakes = ops.stop_gradient(G(z, labels))
            real_logits = D(seen_by_D(reals, noise_std, p, rand_real), labels)
            fake_logits = D(seen_by_D(fakes, noise_std, p, rand_fake), labels)
            if hinge:
                loss = losses.d_hinge(real_logits, fake_logits)
            else:
                loss = losses.d_bce(real_logits, fake_logits, real_target)
            return scaled(scale_D, loss), (loss, real_logits.mean(), fake_logits.mean(),
                                           ops.sign(real_logits).mean())

        def g_loss(labels, z, noise_std, p, rand):
            logits = D(seen_by_D(G(z, labels), noise_std, p, rand), labels)
            loss = losses.g_hinge(logits) if hinge else losses.g_nonsaturating(logits)
            return scaled(scale_G, loss), loss

        def real_logits_sum(reals, labels):
            return D(reals, labels).sum()

        def r1_loss(reals, labels, p, rand):
            # R1 on the augmented reals, the images D is trained on (as msgan's StyleGAN2 does)
            seen = reals if augment is None else augment.apply(reals, p, rand)
            penalty = losses.r1_penalty(ms.grad(real_logits_sum)(seen, labels)).mean()
            return scaled(scale_D, penalty * r1_scale), penalty

        d_grad = ms.value_and_grad(d_loss, None, self.opt_D.parameters, has_aux=True)
        g_grad = ms.value_and_grad(g_loss, None, self.opt_G.parameters, has_aux=True)
        r1_grad = ms.value_and_grad(r1_loss, None, self.opt_D.parameters, has_aux=True)
        apply_D = guarded_update(self.opt_D, self.reduce_D, scale_D)
        apply_G = guarded_update(self.opt_G, self.reduce_G, scale_G)

        def d_step(reals, labels, z, noise_std, p, rand_real, rand_fake):
            (_, (loss, real_mean, fake_mean, sign)), grads = d_grad(
                reals, labels, z, noise_std, p, rand_real, rand_fake)
            ok = apply_D(grads)
            if scale_D is None:
                return loss, real_mean, fake_mean, sign, ok
            return loss, real_mean, fake_mean, sign, ok, scale_D.scale_value * 1.0

        def g_step(labels, z, noise_std, p, rand):
            (_, loss), grads = g_grad(labels, z, noise_std, p, rand)
            ok = apply_G(grads)
            if scale_G is None:
                return loss, ok
            return loss, ok, scale_G.scale_value * 1.0

        def r1_step(reals, labels, p, rand):
            (_, penalty), grads = r1_grad(reals, labels, p, rand)
            return penalty, apply_D(grads)

        g_params = tuple(self.G.get_parameters())         # BatchNorm moving stats included
        ema_params = tuple(self.G_ema.get_parameters())

        def ema_step(beta):
            for pe, p in zip(ema_params, g_params):
                ops.assign(pe, pe * beta + p * (1.0 - beta))
            return beta

        self._d_step = ms.jit(d_step, jit_level=jit_level)
        self._g_step = ms.jit(g_step, jit_level=jit_level)
        self._r1_step = ms.jit(r1_step, jit_level=jit_level) if self.r1_gamma > 0 else None
        self._ema_step = ms.jit(ema_step, jit_level=jit_level)

    def _rand(self, n: int) -> Tensor:
        """Augmentation draws for n images (a 1-column dummy when nothing is augmented)."""
        if self._draw is None:
            return Tensor(np.zeros((n, 1), np.float32))
        return Tensor(self._draw(self.rng, n))

    @property
    def p(self) -> float:
        """The augmentation probability in force (ADA's adaptive p, else the fixed one)."""
        return self.ada.p if self.ada is not None else self.augment_p

    # -- the interface the loop uses -------------------------------------------------------------
    def step(self, reals: Tensor, labels: Tensor, it: int) -> dict:
        n = reals.shape[0]
        noise_std = Tensor(self.instance_noise * max(0.0, 1.0 - self.progress), ms.float32)
        p = Tensor(self.p, ms.float32)
        z_d = Tensor(sample_z(self.rng, n, self.z_dim, self.z_dist))
        d_outs = self._d_step(reals, labels, z_d, noise_std, p, self._rand(n), self._rand(n))
        stats = {"loss_D": d_outs[0], "D_real": d_outs[1], "D_fake": d_outs[2],
                 "update_ok_D": d_outs[4]}
        if self._r1_step is not None and it % self.r1_interval == 0:
            stats["loss_r1"], stats["update_ok_D_reg"] = self._r1_step(reals, labels, p,
                                                                      self._rand(n))
        z_g = Tensor(sample_z(self.rng, n, self.z_dim, self.z_dist))
        g_outs = self._g_step(labels, z_g, noise_std, p, self._rand(n))
        stats.update(loss_G=g_outs[0], update_ok_G=g_outs[1])
        if self.ada is not None:        # the names StyleGAN2's stats use
            stats["ada_p"] = p
            self.ada.observe(d_outs[3])
        if self.scales:
            stats.update(loss_scale_D=d_outs[5], loss_scale_G=g_outs[2])
        return stats

    def update_ema(self, beta: Tensor) -> None:
        self._ema_step(beta)

    def state_cells(self) -> dict:
        cells = {"G": self.G, "D": self.D, "G_ema": self.G_ema,
                 "opt_G": self.opt_G, "opt_D": self.opt_D}
        cells.update({f"scale_{k}": v for k, v in self.scales.items()})
        return cells

    def optimizers(self) -> dict:
        return {"G": self.opt_G, "D": self.opt_D}

    def host_state(self) -> dict:
        state = {"rng": self.rng.bit_generator.state}
        if self.ada is not None:
            state["ada"] = self.ada.state_dict()
        return state

    def load_host_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])
