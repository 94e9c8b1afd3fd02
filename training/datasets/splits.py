"""Split lists: the paper's, shipped in the repository's top-level ``splits/``, or a user's own.

A split list is a text file with one sample id per line, as in the paper's ``datasets_splits/``
(IBM/peft-geofm @ a08307e). ``splits/README.md`` says where each shipped list comes from.
"""

from collections import Counter
from pathlib import Path

from training.errors import DatasetError

__all__ = ["SPLITS_DIR", "read_ids"]

SPLITS_DIR = Path(__file__).resolve().parents[2] / "splits"


def read_ids(path: Path) -> list[str]:
    """Sample ids of a split list, in file order, blank lines skipped.

    Raises:
        DatasetError: The file is missing, unreadable or lists an id twice.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read the split list ({err})") from err
    ids = [line.strip() for line in lines if line.strip()]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise DatasetError(f"{path}: lists {', '.join(repeated[:3])} more than once")
    return ids
