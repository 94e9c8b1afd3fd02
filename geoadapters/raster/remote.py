"""Remote scenes: URLs and GDAL's network virtual file systems, read window by window.

``https://`` and ``http://`` URLs are read through GDAL's ``/vsicurl/``, ``s3://`` through
``/vsis3/`` and ``gs://`` through ``/vsigs/`` (credentials from GDAL's usual environment variables:
``AWS_*``, ``GS_*``, ...); GDAL virtual paths of those network file systems are taken as they are.
A remote scene is never turned into a local path. GDAL fetches the byte ranges a window needs (a COG's
header, then the tiles of each window), so a sub-window of a large file costs a fraction of its size.

Every remote read is bounded: connect and read timeouts (``$GEOADAPTERS_HTTP_TIMEOUT``, seconds,
default 30), retries (``$GEOADAPTERS_HTTP_RETRIES``, default 3), and for the JSON this package fetches
itself (STAC Items) a size (``$GEOADAPTERS_REMOTE_JSON_MB``, default 16) and a total time (timeout x
(retries + 1)). Credentials inside URLs (``user:password@``, signed query strings) never appear in a
message (`redact`).
"""

import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from geoadapters.errors import OptionError, RasterError

__all__ = ["fetch_json", "gdal_path", "redact", "remote_limits", "remote_options"]

_SCHEMES = {"http": "/vsicurl/", "https": "/vsicurl/", "s3": "/vsis3/", "gs": "/vsigs/"}
_NETWORK = ("/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/", "/vsiswift/")


# For every remote read: no directory listing on open (no sidecar files to look for), and only
# raster files' extensions fetched by /vsicurl/ (not every name GDAL would probe).
def remote_limits() -> tuple[float, int, int]:
    """(timeout in seconds, retries, JSON size limit in bytes) of remote reads, from the environment.

    Raises:
        OptionError: A variable that is no number in its range.
    """
    values = []
    for name, default, low, high in (
        ("GEOADAPTERS_HTTP_TIMEOUT", "30", 1, 3600),
        ("GEOADAPTERS_HTTP_RETRIES", "3", 0, 20),
        ("GEOADAPTERS_REMOTE_JSON_MB", "16", 1, 1024),
    ):
        text = os.environ.get(name) or default
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise OptionError(f"{name} must be a number from {low} to {high}, got {text[:20]!r}")
        values.append(value)
    return values[0], int(values[1]), int(values[2] * 2**20)


def remote_options() -> dict[str, str]:
    """GDAL's options of every remote read, while a scene is open (limits from `remote_limits`).

    Raises:
        OptionError: A limit variable that is no number in its range.
    """
    timeout, retries, _ = remote_limits()
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.vrt,.jp2,.json",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_CONNECTTIMEOUT": str(int(timeout)),
        "GDAL_HTTP_TIMEOUT": str(int(timeout)),
        "GDAL_HTTP_MAX_RETRY": str(retries),
        "GDAL_HTTP_RETRY_DELAY": "1",
        "GDAL_HTTP_MAX_REDIRECTS": "10",  # no redirect loop
    }


def redact(text: str) -> str:
    """`text` with the credentials of the URLs in it replaced: ``user:password@`` and query strings."""

    def one(match: re.Match[str]) -> str:
        url = urlsplit(match.group(0))
        host = url.hostname or ""
        netloc = ("***@" if "@" in url.netloc else "") + host + (f":{url.port}" if url.port else "")
        return urlunsplit((url.scheme, netloc, url.path, "***" if url.query else "", ""))

    return re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+", one, text)


def _get(url: str, timeout: float, limit: int, deadline: float) -> bytes:
    """One GET of `url`, refused past `limit` bytes or the `deadline` (a trickling server included)."""
    chunks, size = [], 0
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # http(s) only: stac_vrt checks
        while chunk := answer.read1(1 << 16):
            size += len(chunk)
            if size > limit:
                raise RasterError(
                    f"{redact(url)} is over {limit:,} bytes ($GEOADAPTERS_REMOTE_JSON_MB); "
                    "a STAC Item is a few kB"
                )
            if time.monotonic() > deadline:
                raise TimeoutError("the total time ran out ($GEOADAPTERS_HTTP_TIMEOUT)")
            chunks.append(chunk)
    return b"".join(chunks)


def fetch_json(url: str) -> Any:
    """The JSON document at an http(s) `url`, bounded in size, time and retries (`remote_limits`).

    Raises:
        RasterError: The server is unreachable, too slow, answers an error, redirects in a loop, sends
            more than the limit, or no JSON (an HTML page); the message holds no credentials.
    """
    timeout, retries, limit = remote_limits()
    deadline = time.monotonic() + timeout * (retries + 1)
    data = b""
    for attempt in range(retries + 1):
        try:
            data = _get(url, timeout, limit, deadline)
            break
        except urllib.error.HTTPError as err:  # 4xx: final; 5xx: retried
            problem, final = f"HTTP {err.code} {err.reason}", err.code < 500
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            problem, final = str(getattr(err, "reason", err)), False
        if final or attempt == retries or time.monotonic() >= deadline:
            problem = " ".join(redact(problem).split())
            raise RasterError(f"{redact(url)} cannot be read ({attempt + 1} tries): {problem}")
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as err:
        raise RasterError(f"{redact(url)} is no JSON document (an HTML page?): {str(err)[:100]}") from None


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
