"""Base model encoders (Prithvi-EO, Clay v1, DeCUR ResNet) and `create_backbone`."""

from geoadapters.models.factory import Backbone as Backbone
from geoadapters.models.factory import build_backbone as build_backbone
from geoadapters.models.factory import create_backbone as create_backbone

__all__ = ["Backbone", "build_backbone", "create_backbone"]
