"""Metrics: FID, KID, precision/recall, feature extractors and the augmentation-benefit report.

- ``stats``: the maths on feature arrays (numpy/scipy only).
- ``inception``: FID InceptionV3 in MindSpore, loaded from a user-given .ckpt (nothing downloaded).
- ``classifier``: a small CNN trained on the user's class folders; its features need no download.
- ``features``: folders → uint8 image arrays → feature arrays.
- ``evaluate``: real folder vs generated folder, overall and per class.
- ``augmentation_benefit``: does adding generated images help a classifier on held-out reals?
"""
