import subprocess
import sys

HEAVY = [
    "torch",
    "rasterio",
    "timm",
    "gradio",
    "lightning",
    "onnx",
    "onnxruntime",
    "peft",
    "training",
    "demo",
]


def test_import_is_light():
    code = f"import sys, geoadapters; print(','.join(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_public_names_resolve_lazily():
    import geoadapters

    assert callable(geoadapters.create_backbone)
    assert set(geoadapters.__all__) <= set(dir(geoadapters)) | {"create_backbone"}
