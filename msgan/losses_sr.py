"""SRGAN's losses (Ledig et al. 2017, sec. 2.2) as pure functions of tensors.

Perceptual loss = content loss + ``adv_weight`` * adversarial loss (the paper: 1e-3).
Content is either the pixel-wise MSE (SRResNet-MSE) or the MSE of VGG19 feature maps
(SRGAN-VGG54). The paper rescales its VGG loss by 1/12.75² because its Caffe VGG saw
0-255 pixels; the torchvision weights used here see ImageNet-normalised inputs, whose features
are already far smaller, so no factor is applied (as the common PyTorch ports do).
"""
from mindspore import ops

from msgan.losses import d_bce, g_nonsaturating


def pixel_mse(sr, hr):
    """Mean squared error between the super-resolved and the high-resolution image."""
    return ops.mean(ops.square(sr - hr))


def feature_mse(sr_features, hr_features):
    """Mean squared error between feature maps; the target side carries no gradient."""
    return ops.mean(ops.square(sr_features - ops.stop_gradient(hr_features)))


def d_loss(real_logits, fake_logits):
    """D's binary cross-entropy on logits: real HR images → 1, G's outputs → 0."""
    return d_bce(real_logits, fake_logits)


def g_loss(content, fake_logits, adv_weight):
    """Perceptual loss: content + adv_weight * -log D(G(x)) (the non-saturating form)."""
    return content + adv_weight * g_nonsaturating(fake_logits)
