"""The folder of geoadapters' own cache: converted fine-tunes and ONNX exports.

Hub files live in huggingface_hub's cache. This one is ``$GEOADAPTERS_CACHE``, else
``$XDG_CACHE_HOME/geoadapters``, else ``~/.cache/geoadapters``.
"""

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The cache folder, read from the environment at each call."""
    explicit = os.environ.get("GEOADAPTERS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "geoadapters"
