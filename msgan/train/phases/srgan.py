"""Compiled training steps of SRGAN (Ledig et al. 2017).

While ``progress.kimg < model.pretrain_kimg`` only G trains, on the pixel MSE (SRResNet pre-training,
the paper's initialisation of the GAN's generator); D is not touched. Afterwards every iteration
is a D step (BCE, real HR vs G(LR)) then a G step on content + adv_weight * adversarial loss,
with the content loss of ``model.content_loss`` (pixel MSE or VGG19 φ5,4 features).

One ``ms.jit`` function per phase (pre-training, D, G), each with one optimizer; G's Adam is
shared by the pre-training and the G graphs (its state lives in Parameters both graphs see).
"""
from __future__ import annotations

import mindspore as ms
from mindspore import Tensor, ops

from msgan import losses
from msgan.config import Config
from msgan.models.vgg19 import DEFAULT_LAYER, load_vgg19
from msgan.train.phases.base import Phases, Progress, eval_copies, scaled

VGG_LAYER = DEFAULT_LAYER      # φ5,4 after its ReLU, as SRGAN-VGG54


class SRGANPhases(Phases):
    """The image-to-image phases contract for SRGAN: ``a`` low-res inputs, ``b`` HR targets."""

    def __init__(self, cfg: Config, nets: dict, rank: int = 0, world_size: int = 1):
        m = cfg.model
        # weights are loaded here, before any graph compiles, so the graphs see them
        self.vgg = load_vgg19(m.vgg_checkpoint, VGG_LAYER) if m.content_loss == "vgg" else None
        # Nothing random on the host (no rng). train.amp: G and D compute in fp16; losses, VGG19
        # and the eval copy of G (generators()) stay fp32.
        super().__init__(cfg, nets, world_size, eval_nets=eval_copies(cfg, nets),
                         frozen={} if self.vgg is None else {"vgg": self.vgg})
        self.G, self.D = nets["G"], nets["D"]
        self.G_eval = self.eval_nets["G"]
        self.pretrain_kimg = float(m.pretrain_kimg)
        self.adv_weight = float(m.adv_weight)
        self._true = Tensor(True, ms.bool_)
        self._compile()

    def _compile(self):
        G, D, vgg, adv_weight = self.runs["G"], self.runs["D"], self.vgg, self.adv_weight
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")

        def content(sr, hr):
            if vgg is None:
                return losses.mse(sr, hr)
            return losses.feature_mse(vgg(sr), vgg(hr))

        def pre_loss(a, b):
            loss = losses.mse(G(a), b)
            return scaled(scale_G, loss), loss

        def d_loss(a, b):
            fakes = ops.stop_gradient(G(a))
            real_logits, fake_logits = D(b), D(fakes)
            loss = losses.d_bce(real_logits, fake_logits)
            return scaled(scale_D, loss), (loss, real_logits.mean(), fake_logits.mean())

        def g_loss(a, b):
            sr = G(a)
            c = content(sr, b)
            fake_logits = D(sr)
            loss = losses.perceptual_loss(c, fake_logits, adv_weight)
            return scaled(scale_G, loss), (loss, c, fake_logits.mean())

        pre_grad, d_grad, g_grad = (self.grad(pre_loss, "G"), self.grad(d_loss, "D"),
                                    self.grad(g_loss, "G"))
        update_G, update_D = self.update("G"), self.update("D")

        def pre_step(a, b):
            (_, loss), grads = pre_grad(a, b)
            return (loss,) + update_G(grads)

        def d_step(a, b):
            (_, (loss, real_mean, fake_mean)), grads = d_grad(a, b)
            return (loss, real_mean, fake_mean) + update_D(grads)

        def g_step(a, b):
            (_, (loss, c, fake_mean)), grads = g_grad(a, b)
            return (loss, c, fake_mean) + update_G(grads)

        self._pre_step, self._d_step, self._g_step = (self.jit(pre_step), self.jit(d_step),
                                                      self.jit(g_step))

    def step(self, batch: tuple, it: int, progress: Progress) -> dict:
        """One iteration. Both phases return the same keys; stats a phase does not measure are 0.

        While ``progress.kimg < model.pretrain_kimg`` only G trains (pixel MSE). ``loss_G_content``
        is the pixel MSE while pre-training and the configured content loss afterwards;
        ``D_fake_G`` is D's mean logit on G's outputs seen in the G step.
        """
        a, b = Tensor(batch[0]), Tensor(batch[1])
        if progress.kimg < self.pretrain_kimg:
            loss_G, ok_G, scale_G = self._pre_step(a, b)
            stats = {"loss_G": loss_G, "loss_G_content": loss_G, "loss_D": self._zero,
                     "D_real": self._zero, "D_fake": self._zero, "D_fake_G": self._zero,
                     "update_ok_G": ok_G, "update_ok_D": self._true}
            scale_D = self.scales["D"].scale_value * 1.0 if self.scales else None
            return self.scale_stats(stats, G=scale_G, D=scale_D)
        loss_D, d_real, d_fake, ok_D, scale_D = self._d_step(a, b)
        loss_G, content, d_fake_g, ok_G, scale_G = self._g_step(a, b)
        stats = {"loss_G": loss_G, "loss_G_content": content, "loss_D": loss_D,
                 "D_real": d_real, "D_fake": d_fake, "D_fake_G": d_fake_g,
                 "update_ok_G": ok_G, "update_ok_D": ok_D}
        return self.scale_stats(stats, G=scale_G, D=scale_D)
