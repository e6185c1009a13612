"""Generator/discriminator definitions. Each module has ``build`` and ``export_net``."""
from msgan.models import dcgan, mlp_gan

MODELS = {"gan": mlp_gan, "dcgan": dcgan}
