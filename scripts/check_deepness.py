"""Run an exported .onnx through the Deepness QGIS plugin's own code, headless, and compare class maps.

Not part of CI (it needs QGIS and a checkout of Deepness, github.com/PUTvision/qgis-plugin-deepness).
As Deepness's tests do (test/test_map_processor_segmentation.py): QGIS without a GUI, the scene a
QgsRasterLayer, Deepness's Segmentor reading the file, the dock's defaults from the file's metadata
(``get_metadata_*``), MapProcessorSegmentation over the whole layer. Prints what Deepness read and how
far its class map agrees with ``geoadapters predict``'s. Run with QGIS's Python, onnxruntime and
opencv-python-headless installed there (Debian: apt-get install qgis python3-qgis, then a venv with
--system-site-packages):

    QT_QPA_PLATFORM=offscreen python scripts/check_deepness.py DEEPNESS/src model.onnx scene.tif \
        scene_pred.tif 2,3,4,9,12,13

The last argument: the layer's band (1-based) of each of the model's inputs, in the model's order.
"""

import sys
from unittest.mock import MagicMock

import numpy as np
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer

deepness_src, model_path, scene, predicted, bands = sys.argv[1:6]
sys.path.insert(0, deepness_src)
app = QgsApplication([], False)
app.initQgis()

from deepness.common.channels_mapping import ChannelsMapping, ImageChannelStandaloneBand  # noqa: E402
from deepness.common.processing_overlap import ProcessingOverlap, ProcessingOverlapOptions  # noqa: E402
from deepness.common.processing_parameters.map_processing_parameters import ProcessedAreaType  # noqa: E402
from deepness.common.processing_parameters.segmentation_parameters import SegmentationParameters  # noqa: E402
from deepness.processing.map_processor.map_processor_segmentation import MapProcessorSegmentation  # noqa: E402
from deepness.processing.models.model_base import ModelBase  # noqa: E402
from deepness.processing.models.segmentor import Segmentor  # noqa: E402


def layer(path: str) -> QgsRasterLayer:
    """A raster layer of `path`, added to the project as Deepness wants its input layer."""
    raster = QgsRasterLayer(path, path)
    if not raster.isValid():
        sys.exit(f"QGIS cannot open {path}")
    QgsProject.instance().addMapLayer(raster)
    return raster


def first_band(raster: QgsRasterLayer) -> np.ndarray:
    """The first band of a byte raster, read by QGIS."""
    block = raster.dataProvider().block(1, raster.extent(), raster.width(), raster.height())
    return np.frombuffer(bytes(block.data()), np.uint8).reshape(raster.height(), raster.width())


scene_layer = layer(scene)
model = Segmentor(model_path)
print("model type:", ModelBase.get_model_type_from_metadata(model_path))
print("inputs:", model.get_input_shape(), "outputs:", model.get_output_shapes())
print("classes:", model.outputs_names)
print(
    f"resolution {model.get_metadata_resolution()} cm/px, tile {model.get_metadata_tile_size()} px, "
    f"overlap {model.get_metadata_tiles_overlap()} %, "
    f"threshold {model.get_metadata_segmentation_threshold()}, "
    f"small segments {model.get_metadata_segmentation_small_segment()}"
)
print("standardisation:", model.standardization_parameters.mean, model.standardization_parameters.std)

mapping = ChannelsMapping()
names = [scene_layer.bandName(i + 1) for i in range(scene_layer.bandCount())]
mapping.set_image_channels([ImageChannelStandaloneBand(i + 1, name) for i, name in enumerate(names)])
mapping.set_number_of_model_inputs(model.get_number_of_channels())
for model_input, band in enumerate(int(b) for b in bands.split(",")):
    mapping.set_image_channel_for_model_input(model_input, band - 1)
threshold = model.get_metadata_segmentation_threshold() or 0.0  # the dock's, off where the file says 0
params = SegmentationParameters(
    resolution_cm_per_px=model.get_metadata_resolution(),
    tile_size_px=model.get_metadata_tile_size(),
    batch_size=1,
    local_cache=False,
    processed_area_type=ProcessedAreaType.ENTIRE_LAYER,
    mask_layer_id=None,
    input_layer_id=scene_layer.id(),
    input_channels_mapping=mapping,
    postprocessing_dilate_erode_size=model.get_metadata_segmentation_small_segment() or 0,
    processing_overlap=ProcessingOverlap(
        ProcessingOverlapOptions.OVERLAP_IN_PERCENT, percentage=model.get_metadata_tiles_overlap()
    ),
    pixel_classification__probability_threshold=threshold,
    model=model,
)
processor = MapProcessorSegmentation(
    rlayer=scene_layer, vlayer_mask=None, map_canvas=MagicMock(), params=params
)
processor.run()
deepness = processor.get_result_img()[0].astype(np.int64) - 1  # Deepness adds 1 to every class
ours = first_band(layer(predicted)).astype(np.int64)
print(f"Deepness and geoadapters predict agree on {(deepness == ours).mean():.4%} of {ours.size:,} pixels")
