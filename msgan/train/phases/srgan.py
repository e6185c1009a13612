"""Compiled training steps of SRGAN (Ledig et al. 2017).

While ``cur_kimg < model.pretrain_kimg`` only G trains, on the pixel MSE (SRResNet pre-training,
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
from msgan.models import srgan
from msgan.models.vgg19 import DEFAULT_LAYER, load_vgg19
from msgan.train import amp
from msgan.train.lr import get_lr, set_lr
from msgan.train.phases.base import grad_reducer, guarded_update, make_adam, scaled
from msgan.train.phases.translate import NetSet

VGG_LAYER = DEFAULT_LAYER      # φ5,4 after its ReLU, as SRGAN-VGG54


class SRGANPhases:
    """The image-to-image phases contract for SRGAN: ``a`` low-res inputs, ``b`` HR targets."""

    def __init__(self, cfg: Config, nets: dict, rank: int = 0, world_size: int = 1):
        m = cfg.model
        self.G, self.D = nets["G"], nets["D"]
        # weights are loaded here, before any graph compiles, so the graphs see them
        self.vgg = load_vgg19(m.vgg_checkpoint, VGG_LAYER) if m.content_loss == "vgg" else None
        # A separate eval-mode copy: a graph compiled in train mode keeps using batch statistics
        # even after set_train(False), so sampling must not go through G itself.
        self.G_eval = srgan.Generator(m, self.G.resolution, self.G.channels)
        # Parameter names unique per graph (G.*, D.*, vgg.*); the copy is named G.* as well, in
        # its own holder, so G.ckpt written from generators() has a fresh generator's names.
        held = {"G": self.G, "D": self.D}
        if self.vgg is not None:
            held["vgg"] = self.vgg
        self.holder = NetSet(held)
        self._eval_holder = NetSet({"G": self.G_eval})
        self.pretrain_kimg = float(m.pretrain_kimg)
        self.adv_weight = float(m.adv_weight)
        self.progress = 0.0     # fraction of the schedule done; set by the loop
        self.cur_kimg = 0.0     # thousands of images trained so far; set by the loop
        self.opt_G = make_adam(self.G.trainable_params(), cfg.train.G_opt)
        self.opt_D = make_adam(self.D.trainable_params(), cfg.train.D_opt)
        self.reduce_G = grad_reducer(self.opt_G, world_size)
        self.reduce_D = grad_reducer(self.opt_D, world_size)
        # train.amp: G and D compute in fp16 (after _SRNets named their Parameters); losses,
        # VGG19 and the eval copy stay fp32; one dynamic loss scale per optimizer
        self.scales = amp.loss_scales(cfg.train.amp)
        self.G_run = amp.cast_network(self.G, cfg.train.amp)
        self.D_run = amp.cast_network(self.D, cfg.train.amp)
        self._zero = Tensor(0.0, ms.float32)
        self._true = Tensor(True, ms.bool_)
        self.G.set_train(True)
        self.D.set_train(True)
        self.G_eval.set_train(False)
        self._compile(cfg.train.jit_level)

    def _compile(self, jit_level: str):
        G, D, vgg, adv_weight = self.G_run, self.D_run, self.vgg, self.adv_weight
        scale_G, scale_D = self.scales.get("G"), self.scales.get("D")
        zero = self._zero

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

        pre_grad = ms.value_and_grad(pre_loss, None, self.opt_G.parameters, has_aux=True)
        d_grad = ms.value_and_grad(d_loss, None, self.opt_D.parameters, has_aux=True)
        g_grad = ms.value_and_grad(g_loss, None, self.opt_G.parameters, has_aux=True)
        apply_G = guarded_update(self.opt_G, self.reduce_G, scale_G)
        apply_D = guarded_update(self.opt_D, self.reduce_D, scale_D)

        def g_scale():
            return zero if scale_G is None else scale_G.scale_value * 1.0

        def d_scale():
            return zero if scale_D is None else scale_D.scale_value * 1.0

        def pre_step(a, b):
            (_, loss), grads = pre_grad(a, b)
            ok = apply_G(grads)
            return loss, ok, g_scale()

        def d_step(a, b):
            (_, (loss, real_mean, fake_mean)), grads = d_grad(a, b)
            ok = apply_D(grads)
            return loss, real_mean, fake_mean, ok, d_scale()

        def g_step(a, b):
            (_, (loss, c, fake_mean)), grads = g_grad(a, b)
            ok = apply_G(grads)
            return loss, c, fake_mean, ok, g_scale()

        self._pre_step = ms.jit(pre_step, jit_level=jit_level)
        self._d_step = ms.jit(d_step, jit_level=jit_level)
        self._g_step = ms.jit(g_step, jit_level=jit_level)

    # -- the interface the loop uses -------------------------------------------------------------
    @property
    def pretraining(self) -> bool:
        return self.cur_kimg < self.pretrain_kimg

    def step(self, a: Tensor, b: Tensor, it: int) -> dict:
        """One iteration. Both phases return the same keys; stats a phase does not measure are 0.

        ``loss_G_content`` is the pixel MSE while pre-training and the configured content loss
        afterwards; ``D_fake_G`` is D's mean logit on G's outputs seen in the G step.
        """
        if self.pretraining:
            loss_G, ok_G, scale_G = self._pre_step(a, b)
            stats = {"loss_G": loss_G, "loss_G_content": loss_G, "loss_D": self._zero,
                     "D_real": self._zero, "D_fake": self._zero, "D_fake_G": self._zero,
                     "update_ok_G": ok_G, "update_ok_D": self._true}
            if self.scales:
                stats.update(loss_scale_G=scale_G,
                             loss_scale_D=self.scales["D"].scale_value * 1.0)
            return stats
        loss_D, d_real, d_fake, ok_D, scale_D = self._d_step(a, b)
        loss_G, content, d_fake_g, ok_G, scale_G = self._g_step(a, b)
        stats = {"loss_G": loss_G, "loss_G_content": content, "loss_D": loss_D,
                 "D_real": d_real, "D_fake": d_fake, "D_fake_G": d_fake_g,
                 "update_ok_G": ok_G, "update_ok_D": ok_D}
        if self.scales:
            stats.update(loss_scale_G=scale_G, loss_scale_D=scale_D)
        return stats

    def state_cells(self) -> dict:
        cells = {"G": self.G, "D": self.D, "opt_G": self.opt_G, "opt_D": self.opt_D}
        cells.update({f"scale_{k}": v for k, v in self.scales.items()})
        return cells

    def optimizers(self) -> dict:
        return {"G": self.opt_G, "D": self.opt_D}

    def host_state(self) -> dict:
        # Nothing random on the host. mint Adam's lr Parameter is not among the optimizer's
        # checkpointed parameters, so an lr lowered by a rollback is kept here.
        return {"lr": {name: get_lr(opt) for name, opt in self.optimizers().items()}}

    def load_host_state(self, state: dict) -> None:
        for name, lr in state.get("lr", {}).items():
            set_lr(self.optimizers()[name], lr)

    def generators(self) -> dict:
        """{"G": eval-mode copy of G}, its weights and BatchNorm statistics copied in now.

        ``copy_`` writes in place, so graphs already compiled around the copy see the values.
        """
        for pe, p in zip(self.G_eval.get_parameters(), self.G.get_parameters()):
            pe.copy_(p)
        return {"G": self.G_eval}
