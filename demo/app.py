"""The Gradio app: pick an adapter and a GeoTIFF, get the prediction, its pictures and class areas.

The prediction is that of ``geoadapters predict`` (`demo.models.predict`)
(``--probabilities --inputs geotiff``), after the same checks (`geoadapters.inference.preflight`): the
download is a zip of the COGs the command writes with the class map's ``.aux.xml`` (class names), and
the pictures and areas are read back from them. A file whose bands the adapter cannot find by their
descriptions gets a band mapping (`demo.bands`). The ``predict`` event is also an API endpoint
(``/predict``: the GeoTIFF, the adapter's label, the band mapping as ``bands`` text and the value
scale in; pictures, legend, area table, timing, warnings and the zip out), usable from `gradio_client`.
"""

import re
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import gradio as gr

from demo import models
from demo.bands import mapped_bands, propose, read_file_bands
from demo.messages import message
from demo.pictures import draw, legend_html
from geoadapters.errors import GeoAdaptersError
from geoadapters.inference.jobs import SceneJob
from geoadapters.inference.predict import PredictReport
from geoadapters.inference.preflight import check_job
from geoadapters.inference.request import PredictOptions
from geoadapters.raster.area import class_areas

__all__ = ["EXAMPLE", "build_app"]

EXAMPLE = models.EXAMPLES / "Spain_7370579_S2Hand.tif"
# Predictions offered for download are kept this long (Gradio keeps its own copy as long).
_KEEP_S = 3600
# The largest scene predicted by default (height x width): 4096², about 7 s of the bundled model on
# 2 CPU cores, and minutes for a 300M base.
MAX_PIXELS = 4096 * 4096
# Choices of the band mapping: the most bands an adapter reads that the page maps (more: the API).
_PICKS = 16


class _Outputs:
    """The folder predictions are written into: one subfolder per request, old ones removed."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="geoadapters-demo-"))

    def new(self) -> Path:
        for old in self.root.iterdir():
            if time.time() - old.stat().st_mtime > _KEEP_S:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.root))


_AREA_HEADERS = ["class", "area (km²)", "share (%)"]


def _area_table(areas: dict[str, float]) -> list[list[str | float]]:
    """Rows of class, km² and share of the predicted area."""
    total = sum(areas.values())
    return [
        [name, round(a / 1e6, 4), round(100 * a / total, 2) if total else 0.0] for name, a in areas.items()
    ]


def _refuse(problem: BaseException | str) -> gr.Error:
    return gr.Error(message(problem), print_exception=False)


def _safe_stem(name: str) -> str:
    """An upload's file stem usable as the outputs' name: word characters, at most 80 of them."""
    return re.sub(r"[^\w.-]+", "_", Path(name).stem).strip("._")[:80] or "scene"


def _download(report: PredictReport, folder: Path) -> Path:
    """One zip of what the prediction wrote, so that the download opens as the page shows it.

    It holds the class map (its colour table inside) with its .aux.xml (class names, attribute table)
    and the probabilities.
    """
    archive = folder / f"{report.output.stem}.zip"
    written = [report.output, report.output.with_name(f"{report.output.name}.aux.xml")]
    if report.probabilities is not None:
        written.append(report.probabilities)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in written:
            if path.exists():
                zipped.write(path, path.name)
    return archive


def _bands_text(bands: str) -> tuple[str, ...] | None:
    """The ``bands`` of the API: file band numbers (or the file's band names), comma separated."""
    picked = tuple(b.strip() for b in bands.split(",") if b.strip())
    return picked or None


def _predictor(outputs: _Outputs, max_pixels: int) -> Any:
    def predict(
        scene: str | None,
        label: str,
        bands: str = "",
        scale: float | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:
        """Predict a GeoTIFF with the chosen adapter; every refusal is a one-line message.

        Args:
            scene: The GeoTIFF.
            label: An adapter's label, as the page lists them.
            bands: The band mapping: the file band holding each band the adapter reads, in its order
                (``3,2,1,4,5,6``), or the names of all the file's bands; empty: from the descriptions.
            scale: Factor from the file's values to the adapter's units; empty: the adapter's own.
            progress: Gradio's progress tracker.
        """
        if not scene:
            raise _refuse("upload a GeoTIFF or pick the example first")
        started = time.perf_counter()
        try:
            read_file_bands(scene, max_pixels)
            config = models.contract(label)
            options = PredictOptions(
                probabilities=True, geotiff_only=True, bands=_bands_text(bands), scale=scale or None
            )
            folder = outputs.new()
            output = folder / f"{_safe_stem(Path(scene).name)}_pred.tif"
            job = SceneJob((scene,), output, probabilities=True)
            notes = [message(line) for line in check_job(job, config, options)]
            progress(0, desc="loading the model")
            classes = config.classes
            report = models.predict(
                label,
                scene,
                output,
                probabilities=True,
                geotiff_only=True,
                bands=options.bands,
                scale=options.scale,
                progress=lambda done, total: progress((done, total), desc="predicting", unit="tiles"),
            )
            progress(1, desc="drawing")
            areas = class_areas(report.output, classes)
            assert report.probabilities is not None
            pictures = draw(scene, report.output, report.probabilities, classes, config.colors)
        except (GeoAdaptersError, ValueError) as err:
            raise _refuse(err) from err
        for note in notes:
            gr.Warning(note)
        timing = (
            f"{report.computed}/{report.tiles} tiles predicted in {report.seconds:.1f} s "
            f"({report.runner}); {time.perf_counter() - started:.1f} s in all"
        )
        return (
            pictures.rgb,
            pictures.classes,
            legend_html(classes, config.colors),
            pictures.overlay,
            pictures.confidence,
            _area_table(areas),
            timing,
            "\n".join(notes),
            str(_download(report, folder)),
        )

    return predict


def _inspector(max_pixels: int) -> Any:
    def inspect(scene: str | None, label: str) -> tuple[Any, ...]:
        """Show the band mapping when the upload's bands cannot be matched by their descriptions."""
        hidden = (gr.update(visible=False), "", *[gr.update(visible=False)] * _PICKS, False)
        if not scene:
            return hidden
        try:
            file = read_file_bands(scene, max_pixels)
            proposal = propose(file, models.contract(label).input.bands)
        except GeoAdaptersError as err:
            return (gr.update(visible=False), message(err), *hidden[2:])
        if proposal.automatic:
            matched = f"{file.name}: bands matched by their descriptions"
            return (gr.update(visible=False), matched, *hidden[2:])
        if len(proposal.needed) > _PICKS:
            wide = f"the adapter reads {len(proposal.needed)} bands: give them as `bands` through the API"
            return (gr.update(visible=False), message(wide), *hidden[2:])
        note = (
            f"{file.name} has {len(proposal.choices)} {file.dtype} bands whose descriptions do not name the "
            f"{len(proposal.needed)} bands the adapter reads: pick the file band that holds each "
            f"(proposed from {proposal.basis})."
        )
        picks = [
            gr.update(visible=True, label=band, choices=list(proposal.choices), value=number)
            for band, number in zip(proposal.needed, proposal.numbers, strict=True)
        ]
        picks += [gr.update(visible=False, value=None)] * (_PICKS - len(picks))
        return (gr.update(visible=True), note, *picks, True)

    return inspect


def _mapping(label: str, shown: bool, *picked: int | None) -> str:
    """The band mapping as the ``bands`` text (empty when the mapping is not shown)."""
    if not shown:
        return ""
    try:
        return mapped_bands(models.contract(label).input.bands, picked)
    except GeoAdaptersError as err:
        raise _refuse(err) from err


def build_app(hub: bool = True, max_pixels: int = MAX_PIXELS) -> gr.Blocks:
    """The demo's Blocks, its queue not yet configured (see `demo.__main__`).

    Args:
        hub: Offer adapters from the local Hugging Face cache and the Hub as well as the bundled one.
        max_pixels: Largest scene predicted (height x width).
    """
    choices = [c.label for c in models.find_choices(hub=hub)]
    outputs = _Outputs()
    app: gr.Blocks
    with gr.Blocks(title="geoadapters demo", delete_cache=(_KEEP_S, _KEEP_S)) as app:
        gr.Markdown(
            "# geoadapters\nSegment a GeoTIFF with a base model and a small adapter. The prediction is "
            "the Cloud-Optimised GeoTIFF `geoadapters predict --probabilities` writes."
        )
        with gr.Row():
            with gr.Column(scale=1):
                adapter = gr.Dropdown(choices, value=choices[0], label="Adapter (base model)")
                scene = gr.File(
                    label="GeoTIFF scene", file_types=[".tif", ".tiff"], type="filepath", elem_id="scene"
                )
                gr.Examples(
                    [[str(EXAMPLE)]], inputs=[scene], label="Bundled example (Sentinel-2, Sen1Floods11)"
                )
                about = gr.Markdown(elem_id="about")
                with gr.Group(visible=False, elem_id="mapping") as mapping:
                    picks = [
                        gr.Dropdown(visible=False, interactive=True, elem_id=f"band-{i}")
                        for i in range(_PICKS)
                    ]
                shown = gr.State(False)
                bands = gr.Textbox("", visible=False, label="bands")
                scale = gr.Number(
                    label="Value scale (empty: the adapter's)",
                    info="Multiplies the file's values before the adapter's normalisation",
                    elem_id="scale",
                )
                run = gr.Button("Predict", variant="primary", elem_id="predict")
                timing = gr.Textbox(label="Time", interactive=False, elem_id="timing")
                notes = gr.Textbox(label="Warnings", interactive=False, elem_id="notes")
                areas = gr.Dataframe(
                    headers=_AREA_HEADERS, label="Area per class", interactive=False, elem_id="areas"
                )
                prediction = gr.File(
                    label="Prediction (zip: class map COG with class names, probabilities)",
                    interactive=False,
                    elem_id="download",
                )
            with gr.Column(scale=2):
                with gr.Row():
                    rgb = gr.Image(
                        label="RGB (2-98 % stretch)", format="png", image_mode="RGBA", interactive=False
                    )
                    class_map = gr.Image(
                        label="Class map",
                        format="png",
                        image_mode="RGBA",
                        interactive=False,
                        elem_id="classmap",
                    )
                legend = gr.HTML()
                with gr.Row():
                    overlay = gr.Image(label="Overlay", format="png", image_mode="RGBA", interactive=False)
                    confidence = gr.Image(
                        label="Confidence (max class probability: purple low, yellow high)",
                        format="png",
                        image_mode="RGBA",
                        interactive=False,
                    )
        for change in (scene.change, adapter.change):
            change(
                _inspector(max_pixels),
                inputs=[scene, adapter],
                outputs=[mapping, about, *picks, shown],
                api_visibility="private",
            )
        run.click(
            _mapping, inputs=[adapter, shown, *picks], outputs=[bands], api_visibility="private"
        ).success(
            _predictor(outputs, max_pixels),
            inputs=[scene, adapter, bands, scale],
            outputs=[rgb, class_map, legend, overlay, confidence, areas, timing, notes, prediction],
            api_name="predict",
        )
    return app
