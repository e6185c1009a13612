"""Generator/discriminator definitions. Each module has ``build`` and ``export_net``."""
from msgan.models import dcgan, mlp_gan, stylegan2

MODELS = {"gan": mlp_gan, "dcgan": dcgan, "stylegan2": stylegan2}
