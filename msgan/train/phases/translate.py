"""Compiled training steps of the image-to-image GANs: pix2pix, CycleGAN, DiscoGAN.

Each iteration runs one G graph then one D graph, each with exactly one optimizer (two in one
graph clash on their state names in MindSpore 2.10). The G graph returns its translations
(gradient-stopped) and the D graph trains on them, so G runs forward once per iteration; D is
therefore trained on the fakes of the G that existed before this iteration's G update, and G
against the D before its update (the reference pix2pix code updates D first; the difference
is one step of lag, and it saves a third of a CPU iteration).
Changing values (lr decay, image-pool choices) reach the graphs as Tensors or through
``Parameter.copy_``, so the graphs compile once.

``train.amp`` O2/O3 works as in the classic phases: the graphs call fp16 copies of the nets
(``self.runs``), losses stay fp32, each optimizer has its own loss scale, and the eval-mode
generators (samples, exports) stay fp32.
"""
from __future__ import annotations

import numpy as np
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops

from msgan import losses as L
from msgan.config import Config
from msgan.models import MODELS
from msgan.train.lr import linear_decay
from msgan.train.phases.base import Phases, Progress, eval_copies, scaled


class ImagePool(nn.Cell):
    """CycleGAN's history of generated images (Shrivastava et al. 2017), held in a Parameter so
    checkpoints restore it exactly.

    The reference pool decides per image, in order: while not full, store it and return it;
    then with probability 1/2 return a random stored image and store the new one in its place,
    else return the new one. Those choices are made on the host (``plan``, numpy RNG) and turned
    into two index vectors into concat(pool, batch): which image each output is, and which image
    each slot holds afterwards. The graph then needs only two Gathers and an assign.
    """

    def __init__(self, size: int, channels: int, resolution: int):
        super().__init__()
        self.size = size
        self.images = Parameter(Tensor(np.zeros((max(size, 1), channels, resolution, resolution),
                                                np.float32)), name="images", requires_grad=False)

    def construct(self, fakes, out_idx, keep_idx):
        both = ops.concat((self.images, fakes), axis=0)
        out = ops.gather(both, out_idx, 0)
        ops.assign(self.images, ops.gather(both, keep_idx, 0))
        return out

    def plan(self, rng: np.random.Generator, count: int, batch: int):
        """(out_idx, keep_idx, new count) for one batch, following the reference semantics."""
        size = self.size
        holder = list(range(size))        # index in concat(pool, batch) each slot holds now
        out = []
        for i in range(batch):
            if count < size:
                holder[count] = size + i
                count += 1
                out.append(size + i)
            elif rng.random() > 0.5:
                slot = int(rng.integers(size))
                out.append(holder[slot])
                holder[slot] = size + i
            else:
                out.append(size + i)
        return (Tensor(np.array(out, np.int32)), Tensor(np.array(holder, np.int32)), count)


class _TranslatePhases(Phases):
    """What the three models share beyond the base: the G-then-D iteration's lr decay."""

    def __init__(self, cfg: Config, nets: dict, rank: int, world_size: int, held: dict):
        super().__init__(cfg, nets, world_size, g_names=MODELS[cfg.model.name].generators,
                         held=held, eval_nets=eval_copies(cfg, nets),
                         rng=np.random.default_rng([cfg.train.seed + 1, rank]))
        self.decay_start = None  # kimg from which the lr falls linearly to 0; None: constant lr
        self.lr_frac = 1.0       # decay fraction the optimizers' lr was last scaled to

    def _decay_from(self, decay_start_kimg) -> None:
        """Constant lr, then linear decay to 0 from ``decay_start_kimg`` (None: half way), the
        schedule of the authors' pix2pix/CycleGAN code."""
        total = self.cfg.train.total_kimg
        self.decay_start = total / 2 if decay_start_kimg is None else decay_start_kimg

    def _update_lr(self, kimg: float) -> None:
        # Scaled in place by new/old decay fraction instead of set to base * fraction, so a lr
        # lowered from outside (the run's NaN rollback) stays lowered by the same factor.
        if self.decay_start is None:
            return
        frac = linear_decay(1.0, kimg, self.decay_start, self.cfg.train.total_kimg)
        if frac == self.lr_frac or self.lr_frac <= 0.0:
            return
        ratio = Tensor(frac / self.lr_frac, ms.float32)
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"].copy_(group["lr"] * ratio)
        self.lr_frac = frac

    def host_state(self) -> dict:
        return {**super().host_state(), "lr_frac": self.lr_frac}

    def load_host_state(self, state: dict) -> None:
        super().load_host_state(state)
        # snapshots from before pix2pix had a decay schedule hold no fraction: it was 1
        self.lr_frac = float(state.get("lr_frac", 1.0))


class Pix2PixPhases(_TranslatePhases):
    """D: GAN loss on (a, G(a)) vs (a, b), halved. G: GAN + lambda_l1 * L1(G(a), b)."""

    def __init__(self, cfg: Config, nets: dict, rank: int = 0, world_size: int = 1):
        super().__init__(cfg, nets, rank, world_size, {})
        G, D = self.runs["G"], self.runs["D"]
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")
        mode, lambda_l1 = cfg.model.gan_mode, float(cfg.model.lambda_l1)

        def g_loss(a, b):
            fake = G(a)
            gan = L.g_gan_loss(D(a, fake), mode)
            l1 = L.l1(fake, b)
            loss = gan + lambda_l1 * l1
            return scaled(scale_G, loss), loss, gan, l1, fake

        def d_loss(a, b, fake):
            real_logits, fake_logits = D(a, b), D(a, fake)
            loss = L.d_gan_loss(real_logits, fake_logits, mode)
            return scaled(scale_D, loss), loss, real_logits.mean(), fake_logits.mean()

        g_grad, d_grad = self.grad(g_loss, "G"), self.grad(d_loss, "D")
        update_G, update_D = self.update("G"), self.update("D")

        def g_step(a, b):
            out, grads = g_grad(a, b)
            return out[1:] + update_G(grads)

        def d_step(a, b, fake):
            out, grads = d_grad(a, b, fake)
            return out[1:] + update_D(grads)

        self._g_step, self._d_step = self.jit(g_step), self.jit(d_step)
        self._decay_from(cfg.model.decay_start_kimg)

    def step(self, batch: tuple, it: int, progress: Progress) -> dict:
        a, b = Tensor(batch[0]), Tensor(batch[1])
        self._update_lr(progress.kimg)
        loss_G, gan, l1, fake, ok_G, scale_G = self._g_step(a, b)
        loss_D, d_real, d_fake, ok_D, scale_D = self._d_step(a, b, fake)
        return self.scale_stats(
            {"loss_G": loss_G, "loss_D": loss_D, "loss_G_GAN": gan, "loss_G_L1": l1,
             "D_real": d_real, "D_fake": d_fake, "update_ok_G": ok_G, "update_ok_D": ok_D},
            G=scale_G, D=scale_D)


class CycleGANPhases(_TranslatePhases):
    """LSGAN (default) + cycle + identity losses, one optimizer over G_AB and G_BA and one over
    D_A and D_B (as the reference code), D trained on a history pool, linear lr decay.

    One optimizer for both Ds gives the same updates as two (Adam is per parameter and the two
    D losses share no weights) with one graph instead of two.
    """

    def __init__(self, cfg: Config, nets: dict, rank: int = 0, world_size: int = 1):
        m = cfg.model
        G_AB, G_BA = nets["G_AB"], nets["G_BA"]
        self.pool_A = ImagePool(m.pool_size, G_BA.channels, G_BA.resolution)
        self.pool_B = ImagePool(m.pool_size, G_AB.channels, G_AB.resolution)
        super().__init__(cfg, nets, rank, world_size,
                         {"pool_A": self.pool_A, "pool_B": self.pool_B})
        self.pool_count = {"A": 0, "B": 0}
        self._decay_from(m.decay_start_kimg)
        G_AB, G_BA, D_A, D_B = (self.runs[k] for k in ("G_AB", "G_BA", "D_A", "D_B"))
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")
        mode, use_pool = m.gan_mode, m.pool_size > 0
        lam_c, lam_id = float(m.lambda_cycle), float(m.lambda_cycle * m.lambda_identity)

        def g_loss(a, b):
            fake_b, fake_a = G_AB(a), G_BA(b)
            gan_AB = L.g_gan_loss(D_B(fake_b), mode)
            gan_BA = L.g_gan_loss(D_A(fake_a), mode)
            cycle_A, cycle_B = L.l1(G_BA(fake_b), a), L.l1(G_AB(fake_a), b)
            loss = gan_AB + gan_BA + lam_c * (cycle_A + cycle_B)
            idt_A, idt_B = ops.zeros((), ms.float32), ops.zeros((), ms.float32)
            if lam_id > 0:        # G_BA should leave a domain-A image unchanged, G_AB a B one
                idt_A, idt_B = L.l1(G_BA(a), a), L.l1(G_AB(b), b)
                loss = loss + lam_id * (idt_A + idt_B)
            return (scaled(scale_G, loss), loss, gan_AB, gan_BA, cycle_A, cycle_B, idt_A, idt_B,
                    fake_a, fake_b)

        def d_loss(a, b, fake_a, fake_b):
            loss_A = L.d_gan_loss(D_A(a), D_A(fake_a), mode)
            loss_B = L.d_gan_loss(D_B(b), D_B(fake_b), mode)
            loss = loss_A + loss_B
            return scaled(scale_D, loss), loss, loss_A, loss_B

        g_grad, d_grad = self.grad(g_loss, "G"), self.grad(d_loss, "D")
        update_G, update_D = self.update("G"), self.update("D")
        pool_A, pool_B = self.pool_A, self.pool_B

        def g_step(a, b):
            out, grads = g_grad(a, b)
            return out[1:] + update_G(grads)

        def d_step(a, b, fake_a, fake_b, out_a, keep_a, out_b, keep_b):
            if use_pool:
                fake_a = pool_A(fake_a, out_a, keep_a)
                fake_b = pool_B(fake_b, out_b, keep_b)
            out, grads = d_grad(a, b, fake_a, fake_b)
            return out[1:] + update_D(grads)

        self._g_step, self._d_step = self.jit(g_step), self.jit(d_step)
        self._no_pool = Tensor(np.zeros(1, np.int32))

    def _pool_plan(self, which: str, pool: ImagePool, batch: int):
        if pool.size == 0:
            return self._no_pool, self._no_pool
        out, keep, self.pool_count[which] = pool.plan(self.rng, self.pool_count[which], batch)
        return out, keep

    def step(self, batch: tuple, it: int, progress: Progress) -> dict:
        a, b = Tensor(batch[0]), Tensor(batch[1])
        self._update_lr(progress.kimg)
        (loss_G, gan_AB, gan_BA, cycle_A, cycle_B, idt_A, idt_B, fake_a, fake_b,
         ok_G, scale_G) = self._g_step(a, b)
        out_a, keep_a = self._pool_plan("A", self.pool_A, b.shape[0])
        out_b, keep_b = self._pool_plan("B", self.pool_B, a.shape[0])
        loss_D, loss_D_A, loss_D_B, ok_D, scale_D = self._d_step(
            a, b, fake_a, fake_b, out_a, keep_a, out_b, keep_b)
        return self.scale_stats(
            {"loss_G": loss_G, "loss_D": loss_D, "loss_G_AB": gan_AB, "loss_G_BA": gan_BA,
             "loss_cycle_A": cycle_A, "loss_cycle_B": cycle_B, "loss_idt_A": idt_A,
             "loss_idt_B": idt_B, "loss_D_A": loss_D_A, "loss_D_B": loss_D_B,
             "update_ok_G": ok_G, "update_ok_D": ok_D}, G=scale_G, D=scale_D)

    def host_state(self) -> dict:
        return {**super().host_state(), "pool_count": dict(self.pool_count)}

    def load_host_state(self, state: dict) -> None:
        super().load_host_state(state)
        self.pool_count = dict(state["pool_count"])


class DiscoGANPhases(_TranslatePhases):
    """BCE GAN + feature matching + reconstruction in both directions (Kim et al. 2017).

    Per direction, G's loss is (1 - lambda_feature) * GAN + lambda_feature * feature matching
    + lambda_recon * reconstruction, the weighting of the paper's code (0.1 / 0.9).
    """

    def __init__(self, cfg: Config, nets: dict, rank: int = 0, world_size: int = 1):
        super().__init__(cfg, nets, rank, world_size, {})
        m = cfg.model
        G_AB, G_BA, D_A, D_B = (self.runs[k] for k in ("G_AB", "G_BA", "D_A", "D_B"))
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")
        lam_f, lam_r, recon_kind = float(m.lambda_feature), float(m.lambda_recon), m.recon_loss

        def g_loss(a, b):
            fake_b, fake_a = G_AB(a), G_BA(b)
            recon_A = L.recon(G_BA(fake_b), a, recon_kind)
            recon_B = L.recon(G_AB(fake_a), b, recon_kind)
            logits_b, feats_fake_b = D_B(fake_b)
            logits_a, feats_fake_a = D_A(fake_a)
            _, feats_real_b = D_B(b)
            _, feats_real_a = D_A(a)
            gan_AB, gan_BA = L.g_gan_loss(logits_b, "vanilla"), L.g_gan_loss(logits_a, "vanilla")
            fm_B = L.feature_matching(feats_real_b, feats_fake_b)
            fm_A = L.feature_matching(feats_real_a, feats_fake_a)
            loss = ((1.0 - lam_f) * (gan_AB + gan_BA) + lam_f * (fm_A + fm_B)
                    + lam_r * (recon_A + recon_B))
            return (scaled(scale_G, loss), loss, gan_AB, gan_BA, fm_A, fm_B, recon_A, recon_B,
                    fake_a, fake_b)

        def d_loss(a, b, fake_a, fake_b):
            loss_A = L.d_gan_loss(D_A(a)[0], D_A(fake_a)[0], "vanilla")
            loss_B = L.d_gan_loss(D_B(b)[0], D_B(fake_b)[0], "vanilla")
            loss = loss_A + loss_B
            return scaled(scale_D, loss), loss, loss_A, loss_B

        g_grad, d_grad = self.grad(g_loss, "G"), self.grad(d_loss, "D")
        update_G, update_D = self.update("G"), self.update("D")

        def g_step(a, b):
            out, grads = g_grad(a, b)
            return out[1:] + update_G(grads)

        def d_step(a, b, fake_a, fake_b):
            out, grads = d_grad(a, b, fake_a, fake_b)
            return out[1:] + update_D(grads)

        self._g_step, self._d_step = self.jit(g_step), self.jit(d_step)

    def step(self, batch: tuple, it: int, progress: Progress) -> dict:
        a, b = Tensor(batch[0]), Tensor(batch[1])
        (loss_G, gan_AB, gan_BA, fm_A, fm_B, recon_A, recon_B, fake_a, fake_b,
         ok_G, scale_G) = self._g_step(a, b)
        loss_D, loss_D_A, loss_D_B, ok_D, scale_D = self._d_step(a, b, fake_a, fake_b)
        return self.scale_stats(
            {"loss_G": loss_G, "loss_D": loss_D, "loss_G_AB": gan_AB, "loss_G_BA": gan_BA,
             "loss_fm_A": fm_A, "loss_fm_B": fm_B, "loss_recon_A": recon_A,
             "loss_recon_B": recon_B, "loss_D_A": loss_D_A, "loss_D_B": loss_D_B,
             "update_ok_G": ok_G, "update_ok_D": ok_D}, G=scale_G, D=scale_D)
