"""The error every data problem becomes: one line naming the path, exit code 1 on the command line."""

from geoadapters.errors import GeoAdaptersError

__all__ = ["DatasetError"]


class DatasetError(GeoAdaptersError, OSError):
    """A data root, split list or sample file that is missing, truncated, corrupt or not as published."""
