"""Offline validation of the STAC that geoadapters writes: core schemas and MLM fields, no network.

The STAC core JSON schemas (Item and Collection 1.1.0) ship inside pystac, and pystac validates against
them offline. The MLM fields of an adapter's ``mlm.json`` are checked by parsing them with
`stac-model`'s models (`MLModelProperties`). The other extensions' schemas (projection, raster, file,
processing, classification) are published only on the web and are not vendored here: `validate` says
which of the object's extensions it could not check.
"""

from typing import Any

from geoadapters.errors import MissingDependencyError
from geoadapters.stac.model import MLM_SCHEMA

__all__ = ["validate"]


def validate(stac: dict[str, Any]) -> list[str]:
    """Validate a STAC Item or Collection (a dict) offline.

    Returns:
        The schema URIs of its extensions that were not checked (not available offline).

    Raises:
        pystac.errors.STACValidationError: It breaks the core schema.
        pydantic.ValidationError: Its MLM fields break `stac-model`'s models.
        MissingDependencyError: pystac, jsonschema or stac-model is not installed.
    """
    try:
        import pystac
        from pystac.validation import JsonSchemaSTACValidator
        from stac_model.schema import MLModelProperties
    except ImportError as err:
        raise MissingDependencyError(
            "STAC validation (pystac, jsonschema, stac-model)", extra="stac"
        ) from err
    kind = (
        pystac.STACObjectType.COLLECTION if stac.get("type") == "Collection" else pystac.STACObjectType.ITEM
    )
    JsonSchemaSTACValidator().validate_core(stac, kind, stac["stac_version"])
    extensions = list(stac.get("stac_extensions", []))
    if MLM_SCHEMA in extensions:
        MLModelProperties(**stac["properties"])
    return [uri for uri in extensions if uri != MLM_SCHEMA]
