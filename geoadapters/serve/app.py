"""The HTTP service: ``GET /health``, ``GET /adapters``, ``POST /predict`` over `ResidentAdapters`.

Built on FastAPI (request parsing, multipart uploads, JSON errors) and served by uvicorn. A request
names its adapter (and base); the scene comes as an uploaded GeoTIFF (``file``) or a ``url`` (HTTP(S)
GeoTIFF or STAC Item), read through the same guarded readers as ``geoadapters predict`` (GeoTIFF only,
size checked before the model runs). The answer is the COG class map, or with ``probabilities``,
``vector`` or ``areas`` a zip of every file written. At most `ServeSettings.concurrency` predictions
run at once and `ServeSettings.queue` wait; a request beyond answers 503 with Retry-After. Every bad
request answers a 4xx with ``{"error": "one line"}``. The service keeps no state of its own beyond the
resident models: replicas behind a load balancer, each reading adapters from the Hub cache, scale it.
"""

import asyncio
import io
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from geoadapters.errors import PYTHON, AdapterError, GeoAdaptersError, render
from geoadapters.raster.stac import is_stac_item
from geoadapters.resident import ResidentAdapters
from geoadapters.serve.settings import ServeSettings
from geoadapters.version import __version__

__all__ = ["create_app"]

_CHUNK = 1 << 20
_TRUE = ("1", "true", "yes", "on")


class _Refused(Exception):
    """A request answered with `status` and a one-line error."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    line = " ".join(message.split())
    return JSONResponse({"error": line}, status_code=status, headers=headers)


class _Slots:
    """Predictions running (at most `concurrency`) and waiting (at most `queue`); beyond: refused."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self.limit = concurrency + queue
        self.admitted = 0
        self.lock = threading.Lock()
        self.running = asyncio.Semaphore(concurrency)

    def admit(self) -> bool:
        with self.lock:
            if self.admitted >= self.limit:
                return False
            self.admitted += 1
            return True

    def leave(self) -> None:
        with self.lock:
            self.admitted -= 1


def _check_scene(path: str, max_pixels: int, bands: tuple[str, ...] = ()) -> None:
    """Refuse a scene that GDAL cannot open as a GeoTIFF, or one over `max_pixels`.

    A STAC Item is checked as predict reads it: the VRT of its GeoTIFF assets of `bands` (the guarded
    `stac_vrt`: remote items point at remote assets only).
    """
    import rasterio

    from geoadapters.raster.remote import gdal_path, remote_options
    from geoadapters.raster.stac import stac_vrt

    # predict's remote settings: timeouts, retries, no directory listing (a silent server cannot hang it)
    try:
        with rasterio.Env(**remote_options()):
            if is_stac_item(path):
                xml, _ = stac_vrt(path, bands, geotiff_only=True)
                with rasterio.MemoryFile(xml.encode(), ext=".vrt") as vrt, vrt.open() as src:
                    pixels = src.width * src.height
            else:
                with rasterio.open(gdal_path(path) or path, driver="GTiff") as src:
                    pixels = src.width * src.height
    except (OSError, rasterio.errors.RasterioError) as err:
        raise _Refused(400, f"the scene is no readable GeoTIFF: {str(err).splitlines()[0]}") from err
    if pixels > max_pixels:
        raise _Refused(413, f"the scene has {pixels:,} pixels, over this service's limit of {max_pixels:,}")


def create_app(settings: ServeSettings, adapters: ResidentAdapters | None = None) -> FastAPI:
    """The service's FastAPI application over `adapters` (default: a new set within the settings' budget)."""
    resident = adapters or ResidentAdapters(
        settings.budget_gb,
        checkpoint={settings.base: settings.checkpoint} if settings.base and settings.checkpoint else None,
        device=settings.device,
        available=settings.available,
    )
    slots = _Slots(settings.concurrency, settings.queue)
    app = FastAPI(title="geoadapters", version=__version__)
    limit = int(settings.max_request_mb * 2**20)

    @app.exception_handler(_Refused)
    async def refused(request: Request, err: _Refused) -> JSONResponse:
        return _error(err.status, str(err), err.headers)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok", "version": __version__, "resident": len(resident.resident()),
            "memory_bytes": resident.used, "budget_bytes": resident.budget, "admitted": slots.admitted,
        }  # fmt: skip

    @app.get("/adapters")
    async def list_adapters() -> dict[str, Any]:
        return {
            "resident": [
                {"reference": r.reference, "base": r.base, "bytes": r.bytes} for r in resident.resident()
            ],
            "available": list(settings.available),
        }

    @app.post("/predict", response_model=None)
    async def predict(request: Request) -> Response:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limit:
            raise _Refused(413, f"the request has {int(size):,} bytes, over the limit of {limit:,}")
        if not slots.admit():
            retry = {"Retry-After": str(settings.retry_after_s)}
            raise _Refused(503, "the service is busy: its queue is full; retry later", retry)
        try:
            folder = Path(tempfile.mkdtemp(prefix="geoadapters-serve-"))
            try:
                return await _predict(request, folder)
            finally:
                await run_in_threadpool(shutil.rmtree, folder, True)
        finally:
            slots.leave()

    async def _predict(request: Request, folder: Path) -> Response:
        try:
            form = await request.form(max_files=1, max_fields=16)
        except Exception as err:  # starlette's multipart errors have no common base
            raise _Refused(400, f"the request is no multipart form: {err}") from err
        adapter = form.get("adapter")
        if not isinstance(adapter, str) or not adapter:
            raise _Refused(422, "give the adapter to run (form field adapter)")
        if settings.available and adapter not in settings.available:
            raise _Refused(404, f"adapter {adapter} is not offered here; GET /adapters lists them")
        if not settings.available and (adapter.startswith((".", "/", "~")) or Path(adapter).exists()):
            raise _Refused(
                404, "local adapters are served only when the service offers them (serve --adapter)"
            )
        base = form.get("base")
        flags = {name: str(form.get(name, "")).lower() in _TRUE for name in ("probabilities", "areas")}
        vector = form.get("vector")
        if vector is not None and vector not in ("gpkg", "geojson", "parquet"):
            raise _Refused(422, "vector must be gpkg, geojson or parquet")
        upload, url = form.get("file"), form.get("url")
        if isinstance(upload, UploadFile):
            scene = folder / "scene.tif"
            written = 0
            with scene.open("wb") as out:
                while chunk := await upload.read(_CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise _Refused(413, f"the upload is over the limit of {limit:,} bytes")
                    out.write(chunk)
            source = str(scene)
        elif isinstance(url, str) and url:
            if not settings.allow_urls:
                raise _Refused(422, "this service takes uploaded scenes only (form field file)")
            if not url.startswith(("http://", "https://")):
                raise _Refused(422, "url must be an http(s) URL of a GeoTIFF or STAC Item")
            source = url
        else:
            raise _Refused(422, "give a scene: an uploaded GeoTIFF (form field file) or a url")
        output = folder / "out" / "scene_pred.tif"
        run = _runner(resident, adapter, base if isinstance(base, str) and base else settings.base)
        if not is_stac_item(source):  # an item's assets are checked once its adapter names its bands
            await run_in_threadpool(_check_scene, source, settings.max_pixels)
        async with slots.running:
            try:
                report = await run_in_threadpool(
                    run, source, output, settings.max_pixels, vector=vector, geotiff_only=True, **flags
                )
            except AdapterError as err:
                raise _Refused(404, render(err.template, PYTHON)) from err
            except GeoAdaptersError as err:
                raise _Refused(422, render(err.template, PYTHON)) from err
            except ValueError as err:
                raise _Refused(422, str(err)) from err
        headers = {"X-Adapter": adapter, "X-Tiles": str(report.computed)}
        if not (flags["probabilities"] or flags["areas"] or vector):
            return Response(report.output.read_bytes(), media_type="image/tiff", headers=headers)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as bundle:
            for path in sorted(output.parent.iterdir()):
                bundle.write(path, path.name)
        return Response(buffer.getvalue(), media_type="application/zip", headers=headers)

    return app


def _runner(resident: ResidentAdapters, adapter: str, base: str | None) -> Callable[..., Any]:
    """The prediction of one request: its own adapter, by reference, whatever others run meanwhile."""

    def run(source: str, output: Path, max_pixels: int, **options: Any) -> Any:
        if is_stac_item(source):
            _check_scene(source, max_pixels, resident.get(adapter, base).input_spec.bands)
        return resident.predict(adapter, source, output, base=base, **options)

    return run
