"""Remote scenes: URLs and GDAL's network virtual file systems, read window by window.

``https://`` and ``http://`` URLs are read through GDAL's ``/vsicurl/``, ``s3://`` through
``/vsis3/`` and ``gs://`` through ``/vsigs/`` (credentials from GDAL's usual environment variables:
``AWS_*``, ``GS_*``, ...); GDAL virtual paths of those network file systems are taken as they are.
A remote scene is never turned into a local path. GDAL fetches the byte ranges a window needs (a COG's
header, then the tiles of each window), so a sub-window of a large file costs a fraction of its size.
"""

import re
from pathlib import Path

from geoadapters.errors import RasterError

__all__ = ["REMOTE_OPTIONS", "gdal_path"]

_SCHEMES = {"http": "/vsicurl/", "https": "/vsicurl/", "s3": "/vsis3/", "gs": "/vsigs/"}
_NETWORK = ("/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/", "/vsiswift/")
# For every remote read: no directory listing on open (no sidecar files to look for), and only
# raster files' extensions fetched by /vsicurl/ (not every name GDAL would probe).
REMOTE_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.vrt,.jp2,.json",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_MAX_RETRY": "3",
}


def gdal_path(source: str | Path) -> str | None:
    """The GDAL virtual path of a remote scene, or None for a local path.

    Raises:
        RasterError: A URL of a scheme GDAL cannot read window by window (``ftp://``, ``file://``...),
            or a ``/vsi`` path that is not a network file system.
    """
    if isinstance(source, Path):
        return None
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", source)
    if match:
        scheme = match.group(1).lower()
        if scheme not in _SCHEMES:
            raise RasterError(
                f"{source}: {scheme}:// URLs are not read; give a path, or an http(s)://, s3:// or gs:// URL"
            )
        prefix = _SCHEMES[scheme]
        return prefix + (source if prefix == "/vsicurl/" else source[match.end() :])
    if source.startswith("/vsi"):
        if not source.startswith(_NETWORK):
            raise RasterError(
                f"{source}: only GDAL's network file systems ({', '.join(_NETWORK)}) are read as /vsi paths"
            )
        return source
    return None
