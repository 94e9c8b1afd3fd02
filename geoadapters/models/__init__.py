"""Base model encoders (Prithvi-EO, Clay v1, DeCUR ResNet), their contract, and `build_encoder`.

`geoadapters.create_backbone` builds one with its official weights (from a file or the Hub).
"""

from geoadapters.models.build import build_encoder as build_encoder
from geoadapters.models.encoder import Encoder as Encoder
from geoadapters.models.encoder import Features as Features

__all__ = ["Encoder", "Features", "build_encoder"]
