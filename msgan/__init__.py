"""msgan: train GANs on a folder of images with MindSpore and write new images per class."""

__version__ = "0.1.0"
