"""Published TerraTorch fine-tunes by short name: downloaded once, converted once, cached as adapters.

The YAML and checkpoint come through huggingface_hub's cache (`geoadapters.hub.transport`), both at the
same commit; the converted model is written once as a ``full`` adapter folder (safetensors) under
``converted/<org>--<repo>/<commit>`` in geoadapters' cache (`geoadapters.cache`), and read from there
afterwards. The checkpoint is read with ``torch.load(weights_only=True)`` only.
"""

import contextlib
import dataclasses
from pathlib import Path

from geoadapters.cache import cache_dir
from geoadapters.catalog import PublishedModel
from geoadapters.convert.terratorch import from_terratorch
from geoadapters.errors import ConversionError, OutputExistsError
from geoadapters.hub.folder import CONFIG
from geoadapters.hub.transport import download_files

__all__ = ["converted_folder"]


def converted_folder(model: PublishedModel, *, revision: str | None = None) -> Path:
    """The adapter folder of a published fine-tune, downloading and converting it on first use.

    The folder is named after the commit the files were read at.

    Args:
        model: The catalog entry.
        revision: Hub revision, overriding the entry's.

    Raises:
        WeightsNotFoundError: The files are neither cached nor downloadable.
        ConversionError: The files do not convert, or describe another base than the entry's.
    """
    files = download_files(
        model.repo_id, [model.config, model.checkpoint], revision=revision or model.revision
    )
    commit = files[model.config].parent.name  # huggingface_hub's cache layout: snapshots/<commit>/<file>
    folder = cache_dir() / "converted" / model.repo_id.replace("/", "--") / commit
    if (folder / CONFIG).is_file():
        return folder
    converted = from_terratorch(
        files[model.config],
        files[model.checkpoint],
        final_upsample=model.final_upsample,
        classes=model.classes or None,
        name=model.name,
    )
    if converted.config.base.name != model.base:
        raise ConversionError(
            f"{model.repo_id} is a fine-tune of {converted.config.base.name}, not of {model.base}"
        )
    provenance = dict(converted.config.provenance) | {"source": f"{model.repo_id}@{commit}"}
    converted.config = dataclasses.replace(converted.config, provenance=provenance)
    with contextlib.suppress(OutputExistsError):  # another process converted it meanwhile
        converted.save_pretrained(folder)
    return folder
