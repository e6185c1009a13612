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
from msgan.config import Config, resolve_auto_values
from msgan.inference.latents import sample_z
from msgan.train.phases.base import Phases, Progress, ema_beta, scaled


LECAM_DECAY = 0.99


class ClassicPhases(Phases):
    """D step (and lazy R1) then G step per iteration, with the classic stability options and the
    small-data ones: augmentation of everything D sees, hinge loss, R1, LeCam, spectral norm
    (in D)."""

    def __init__(self, cfg: Config, nets: dict, rank: int = 0, world_size: int = 1):
        m, t = cfg.model, cfg.train
        G, D, G_ema = nets["G"], nets["D"], nets["G_ema"]
        self.r1_gamma, self.r1_interval = float(m.r1_gamma), int(m.r1_interval)
        # Lazy R1 gets Adam's lazy-regularisation correction (StyleGAN2 App. B). Every rank
        # draws its own latents; weights stay identical through the reduced gradients. G_ema
        # stays fp32 (samples, exports).
        super().__init__(cfg, {"G": G, "D": D}, world_size, held={"G_ema": G_ema},
                         eval_nets={"G_ema": G_ema},
                         lazy={"D": self.r1_interval if self.r1_gamma > 0 else 0},
                         rng=np.random.default_rng([t.seed + 1, rank]))
        self.G, self.D, self.G_ema = G, D, G_ema
        self.z_dim, self.z_dist = m.z_dim, m.z_dist
        self.real_target = float(m.label_smoothing)
        self.instance_noise = float(m.instance_noise)
        self.loss = m.loss
        self.ac_weight = float(m.ac_weight) if D.classifier is not None else 0.0
        self.mode_seeking = float(m.mode_seeking)
        self.lecam_weight = float(m.lecam_weight)
        self.lecam_anchors = [0.0, 0.0]     # moving averages of D(real), D(fake)
        self.augment, self._draw = augmentations.build(m.augment, G.resolution, G.channels)
        p_init = resolve_auto_values(cfg).get(("model", "augment_p"), (m.augment_p,))[0]
        self.augment_p = float(p_init)
        self.ada = None
        if m.augment == "ada":
            self.ada = AdaController(m.ada_target, m.ada_interval, m.ada_kimg,
                                     t.batch_size, p_init)
        self._compile()

    def _compile(self):
        G, D, augment = self.runs["G"], self.runs["D"], self.augment
        real_target, use_noise = self.real_target, self.instance_noise > 0
        hinge = self.loss == "hinge"
        ac_weight, ms_weight, lecam_weight = self.ac_weight, self.mode_seeking, self.lecam_weight
        # D.scores is called on the net itself (train.amp's wrapper only has construct); its
        # outputs are cast back so the losses stay fp32 either way.
        scores = self.D.scores if ac_weight > 0 else None

        def logit_and_class_loss(images, labels):
            logits, class_logits = scores(images, labels)
            class_loss = losses.class_ce(ops.cast(class_logits, ms.float32), labels)
            return ops.cast(logits, ms.float32), class_loss

        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")
        r1_scale = self.r1_gamma / 2 * self.r1_interval

        def seen_by_D(images, noise_std, p, rand):
            """What D is shown: augmented images (reals and fakes alike), plus instance noise."""
            if augment is not None:
                images = augment.apply(images, p, rand)
            if use_noise:   # instance noise (Sønderby et al. 2016): blur both distributions for D
                images = images + noise_std * ops.standard_normal(images.shape)
            return images

        def d_loss(reals, labels, z, noise_std, p, rand_real, rand_fake, anchors):
            fakes = ops.stop_gradient(G(z, labels))
            seen_reals = seen_by_D(reals, noise_std, p, rand_real)
            # D learns the classes from reals only: fakes would teach it their errors
            if ac_weight > 0:
                real_logits, class_loss = logit_and_class_loss(seen_reals, labels)
            else:
                real_logits, class_loss = D(seen_reals, labels), 0.0
            fake_logits = D(seen_by_D(fakes, noise_std, p, rand_fake), labels)
            if hinge:
                loss = losses.d_hinge(real_logits, fake_logits)
            else:
                loss = losses.d_bce(real_logits, fake_logits, real_target)
            total = loss + ac_weight * class_loss
            if lecam_weight > 0:
                total = total + lecam_weight * losses.lecam(real_logits, fake_logits,
                                                            anchors[0], anchors[1])
            return scaled(scale_D, total), (loss, real_logits.mean(), fake_logits.mean(),
                                            ops.sign(real_logits).mean(), class_loss)

        def g_loss(labels, z, noise_std, p, rand):
            fakes = G(z, labels)
            seen = seen_by_D(fakes, noise_std, p, rand)
            if ac_weight > 0:
                logits, class_loss = logit_and_class_loss(seen, labels)
            else:
                logits, class_loss = D(seen, labels), 0.0
            loss = losses.g_hinge(logits) if hinge else losses.g_nonsaturating(logits)
            total = loss + ac_weight * class_loss
            diversity = 0.0
            if ms_weight > 0:   # step() gives sample i and i + h the same class
                h = fakes.shape[0] // 2
                term, diversity = losses.mode_seeking(fakes[:h], fakes[h:2 * h], z[:h], z[h:2 * h])
                total = total + ms_weight * term
            return scaled(scale_G, total), (loss, class_loss, diversity)

        def real_logits_sum(reals, labels):
            return D(reals, labels).sum()

        def r1_loss(reals, labels, p, rand):
            # R1 on the augmented reals, the images D is trained on (as msgan's StyleGAN2 does)
            seen = reals if augment is None else augment.apply(reals, p, rand)
            penalty = losses.r1_penalty(ms.grad(real_logits_sum)(seen, labels)).mean()
            return scaled(scale_D, penalty * r1_scale), penalty

        d_grad, g_grad, r1_grad = self.grad(d_loss, "D"), self.grad(g_loss, "G"), \
            self.grad(r1_loss, "D")
        update_D, update_G = self.update("D"), self.update("G")

        def d_step(reals, labels, z, noise_std, p, rand_real, rand_fake, anchors):
            (_, aux), grads = d_grad(reals, labels, z, noise_std, p, rand_real, rand_fake,
                                     anchors)
            return aux + update_D(grads)

        def g_step(labels, z, noise_std, p, rand):
            (_, aux), grads = g_grad(labels, z, noise_std, p, rand)
            return aux + update_G(grads)

        def r1_step(reals, labels, p, rand):
            (_, penalty), grads = r1_grad(reals, labels, p, rand)
            ok, _ = update_D(grads)
            return penalty, ok

        g_params = tuple(self.G.get_parameters())         # BatchNorm moving stats included
        ema_params = tuple(self.G_ema.get_parameters())

        def ema_step(beta):
            for pe, p in zip(ema_params, g_params):
                ops.assign(pe, pe * beta + p * (1.0 - beta))
            return beta

        self._d_step, self._g_step = self.jit(d_step), self.jit(g_step)
        self._r1_step = self.jit(r1_step) if self.r1_gamma > 0 else None
        self._ema_step = self.jit(ema_step)

    def _rand(self, n: int) -> Tensor:
        """Augmentation draws for n images (a 1-column dummy when nothing is augmented)."""
        if self._draw is None:
            return Tensor(np.zeros((n, 1), np.float32))
        return Tensor(self._draw(self.rng, n))

    @property
    def p(self) -> float:
        """The augmentation probability in force (ADA's adaptive p, else the fixed one)."""
        return self.ada.p if self.ada is not None else self.augment_p

    def step(self, batch: tuple, it: int, progress: Progress) -> dict:
        """D step (R1 every r1_interval), G step, then G_ema's EMA update."""
        t = self.cfg.train
        reals, labels = Tensor(batch[0]), Tensor(batch[1])
        n = reals.shape[0]
        noise_std = Tensor(self.instance_noise * max(0.0, 1.0 - progress.fraction), ms.float32)
        p = Tensor(self.p, ms.float32)
        z_d = Tensor(sample_z(self.rng, n, self.z_dim, self.z_dist))
        loss_D, d_real, d_fake, sign, cls_D, ok_D, scale_D = self._d_step(
            reals, labels, z_d, noise_std, p, self._rand(n), self._rand(n),
            Tensor(self.lecam_anchors, ms.float32))
        if self.lecam_weight > 0:      # the authors' EMA (decay 0.99), kept on the host
            self.lecam_anchors = [LECAM_DECAY * a + (1 - LECAM_DECAY) * float(v.asnumpy())
                                  for a, v in zip(self.lecam_anchors, (d_real, d_fake))]
        stats = {"loss_D": loss_D, "D_real": d_real, "D_fake": d_fake, "update_ok_D": ok_D}
        if self._r1_step is not None and it % self.r1_interval == 0:
            stats["loss_r1"], stats["update_ok_D_reg"] = self._r1_step(reals, labels, p,
                                                                      self._rand(n))
        z_g = Tensor(sample_z(self.rng, n, self.z_dim, self.z_dist))
        labels_g = labels
        if self.mode_seeking > 0:   # pairs (i, i + h) of one class for the mode-seeking term
            h = n // 2
            labels_g = np.array(batch[1])
            labels_g[h:2 * h] = labels_g[:h]
            labels_g = Tensor(labels_g)
        stats["loss_G"], cls_G, diversity, stats["update_ok_G"], scale_G = self._g_step(
            labels_g, z_g, noise_std, p, self._rand(n))
        if self.ac_weight > 0:   # D's class loss on reals, G's on its fakes (unweighted)
            stats["loss_D_class"], stats["loss_G_class"] = cls_D, cls_G
        if self.mode_seeking > 0:   # mean |image difference| / mean |z difference| of the pairs
            stats["G_diversity"] = diversity
        if self.ada is not None:        # the names StyleGAN2's stats use
            stats["ada_p"] = p
            self.ada.observe(sign)
        beta = ema_beta(t.batch_size, progress.nimg, t.ema_kimg, t.ema_rampup)
        self._ema_step(Tensor(beta, ms.float32))
        return self.scale_stats(stats, D=scale_D, G=scale_G)

    def host_state(self) -> dict:
        state = super().host_state()
        if self.ada is not None:
            state["ada"] = self.ada.state_dict()
        if self.lecam_weight > 0:
            state["lecam_anchors"] = list(self.lecam_anchors)
        return state

    def load_host_state(self, state: dict) -> None:
        super().load_host_state(state)
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])
        if "lecam_anchors" in state:
            self.lecam_anchors = [float(a) for a in state["lecam_anchors"]]
