"""The bundled offline model: a few-MB water segmenter that ships in the package.

It lets the pipeline run on a machine without the Hugging Face Hub (``geoadapters predict scene.tif``
with no model).

It is a 2-block Prithvi-EO-2.0-tiny-TL architecture trained from random weights by the project's own
recipe (``training/recipes/offline/sen1floods11-tiny.yaml``, ``python -m training default-model``)
on one Sen1Floods11 chip, with a spatial hold-out; its card (``sen1floods11-tiny/README.md``) states
the metrics on the held-out block. It is not a substitute for the published adapters.
"""

from pathlib import Path

__all__ = ["DEFAULT_ADAPTER", "DEFAULT_BASE", "DEFAULT_NAME"]

# A full fine-tune: every encoder weight is in its safetensors, no base weights are downloaded.
DEFAULT_BASE = "prithvi-v2-tiny-tl"
# Its name, which is also an adapter reference (`geoadapters.references`), and its folder.
DEFAULT_NAME = "sen1floods11-tiny"
DEFAULT_ADAPTER = str(Path(__file__).parent / DEFAULT_NAME)
