"""What the demo tells a visitor: messages with the demo's controls and no server paths.

geoadapters' messages name the option that fixes a problem as a marker (`geoadapters.errors`); the
demo renders each as the control of this page that sets it. Files are named by their name alone: an
upload's folder on the server, or the outputs' folder, is nobody's business.
"""

import re
from collections.abc import Mapping

from geoadapters.errors import one_line, render

__all__ = ["DEMO", "message"]

# The controls of the demo, by option marker; options the page has no control for say so.
DEMO: Mapping[str, str] = {
    "bands": "the Band mapping",
    "scale": "the Value scale box",
    "nodata": "the file's nodata value (the demo reads it from the file)",
    "resample": "a file at the adapter's pixel size (the demo does not resample)",
    "frames": "a model of one frame (the demo takes one file)",
    "dates": "the file's acquisition date tag",
    "tile_size": "geoadapters predict --tile-size",
    "batch_size": "geoadapters predict --batch-size",
    "memory_budget": "geoadapters predict --memory-budget",
}
# An absolute path (not inside a URL): its folders are dropped, its last part kept.
_PATH = re.compile(r"(?<![\w:/.])/(?:[^\s'\"/:]+/)+([^\s'\"/:]*)")


def message(problem: Warning | BaseException | str) -> str:
    """One line for the page: the problem rendered with the demo's controls, paths cut to names."""
    return _PATH.sub(r"\1", render(one_line(problem), DEMO))
