"""ViT-Adapter (Chen et al. 2022, arXiv 2205.08534) for Prithvi encoders, with CPU deformable attention."""

from geoadapters.methods.vit_adapter.deform_attn import MSDeformAttn as MSDeformAttn
from geoadapters.methods.vit_adapter.deform_attn import deform_attn_backend as deform_attn_backend
from geoadapters.methods.vit_adapter.model import ViTAdapter as ViTAdapter
from geoadapters.methods.vit_adapter.model import apply_vit_adapter as apply_vit_adapter
from geoadapters.methods.vit_adapter.model import is_adapter_parameter as is_adapter_parameter

__all__ = [
    "MSDeformAttn",
    "ViTAdapter",
    "apply_vit_adapter",
    "deform_attn_backend",
    "is_adapter_parameter",
]
