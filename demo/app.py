"""The Gradio app: pick an adapter and a GeoTIFF, get the prediction, its pictures and class areas.

The prediction is `geoadapters.inference.predict.predict_raster`, as in ``geoadapters predict``
(``--probabilities --inputs geotiff``): the file offered for download is the COG the command writes,
and the pictures and areas are read back from it. The ``predict`` event is also an API endpoint
(``/predict``: the GeoTIFF and the adapter's label in; pictures, legend, area table, timing and the
prediction file out), usable from `gradio_client`.
"""

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr

from demo import models
from demo.pictures import draw, legend_html
from geoadapters.errors import GeoAdaptersError
from geoadapters.inference.predict import default_output, predict_raster
from geoadapters.raster.area import class_areas

__all__ = ["EXAMPLE", "build_app"]

EXAMPLE = models.EXAMPLES / "Spain_7370579_S2Hand.tif"
# Predictions offered for download are kept this long (Gradio keeps its own copy as long).
_KEEP_S = 3600


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


def _predictor(outputs: _Outputs) -> Any:
    def predict(scene: str | None, label: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Predict a GeoTIFF with the chosen adapter; every refusal is a one-line message."""
        if not scene:
            raise gr.Error("upload a GeoTIFF or pick the example first", print_exception=False)
        started = time.perf_counter()
        try:
            progress(0, desc="loading the model")
            runner = models.runner(label)
            classes = runner.config.classes
            report = predict_raster(
                scene,
                default_output(Path(scene).name, outputs.new()),
                runner,
                probabilities=True,
                geotiff_only=True,
                progress=lambda done, total: progress((done, total), desc="predicting", unit="tiles"),
            )
            progress(1, desc="drawing")
            areas = class_areas(report.output, classes)
            assert report.probabilities is not None
            pictures = draw(scene, report.output, report.probabilities, classes, runner.config.colors)
        except GeoAdaptersError as err:
            raise gr.Error(str(err), print_exception=False) from err
        timing = (
            f"{report.computed}/{report.tiles} tiles predicted in {report.seconds:.1f} s "
            f"({report.runner}); {time.perf_counter() - started:.1f} s in all"
        )
        return (
            pictures.rgb,
            pictures.classes,
            legend_html(classes, runner.config.colors),
            pictures.overlay,
            pictures.confidence,
            _area_table(areas),
            timing,
            str(report.output),
        )

    return predict


def build_app(hub: bool = True) -> gr.Blocks:
    """The demo's Blocks, its queue not yet configured (see `demo.__main__`).

    Args:
        hub: Offer adapters from the local Hugging Face cache and the Hub as well as the bundled one.
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
                run = gr.Button("Predict", variant="primary", elem_id="predict")
                timing = gr.Textbox(label="Time", interactive=False, elem_id="timing")
                areas = gr.Dataframe(
                    headers=_AREA_HEADERS, label="Area per class", interactive=False, elem_id="areas"
                )
                prediction = gr.File(label="Prediction GeoTIFF (COG)", interactive=False)
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
        run.click(
            _predictor(outputs),
            inputs=[scene, adapter],
            outputs=[rgb, class_map, legend, overlay, confidence, areas, timing, prediction],
            api_name="predict",
        )
    return app
