"""Inference over scenes: the tile grid and blending, runners (torch, onnxruntime), ONNX export, predict.

Data flow: raster windows -> raw tiles -> a runner (normalisation, model) -> logits blended across
tile overlaps -> raster windows out. `runtime.make_runner` picks and prepares the runner.
"""

__all__ = ["PRECISIONS"]

# fp32 everywhere; fp16 and bf16 as torch autocast on CUDA; int8 as a quantised ONNX model.
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
