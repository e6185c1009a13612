"""What every model's ``model:`` config section can do besides holding its keys."""
from __future__ import annotations

from typing import Optional, Tuple


class ModelConfig:
    """Base of the model sections (each a dataclass in its model's file, listed in MODELS).

    ``validate(cfg)`` raises MsganError for a bad value of this section; ``cfg`` is the whole
    run config, for checks that depend on another section (SRGAN's scale vs data.resolution).
    ``with_data(num_images)`` fills in the values that are ``auto`` until the training images
    are counted; it returns the resolved section and the line to log (None: nothing resolved).
    """

    def validate(self, cfg) -> None:
        pass

    def with_data(self, num_images: int) -> Tuple["ModelConfig", Optional[str]]:
        return self, None
