"""Base model encoders (Prithvi-EO, Clay v1, DeCUR ResNet), their contract, and `create_backbone`."""

from geoadapters.models.build import create_backbone as create_backbone
from geoadapters.models.encoder import Encoder as Encoder
from geoadapters.models.encoder import Features as Features

__all__ = ["Encoder", "Features", "create_backbone"]
