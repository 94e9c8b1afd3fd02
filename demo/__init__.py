"""The geoadapters Gradio demo: one GeoTIFF in, a class map, its areas and the prediction file out.

Run it with ``python -m demo`` (``--host``, ``--port``, ``--share``); see `demo.app`. It is not part of
the runtime package: `geoadapters` never imports it or Gradio.
"""
