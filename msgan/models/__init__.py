"""Generator/discriminator definitions. Each module has ``build`` and ``export_net``.

Noise-to-image models (gan, dcgan, stylegan2): ``build(cfg, resolution, channels, num_classes)
-> (G, D)``. Image-to-image models (pix2pix, cyclegan, discogan, srgan): ``build(cfg,
resolution, channels) -> {name: Cell}`` and ``GENERATORS``, the names of the generators in it.
"""
from msgan.models import cyclegan, dcgan, discogan, mlp_gan, pix2pix, srgan, stylegan2

MODELS = {"gan": mlp_gan, "dcgan": dcgan, "stylegan2": stylegan2, "pix2pix": pix2pix,
          "cyclegan": cyclegan, "discogan": discogan, "srgan": srgan}
