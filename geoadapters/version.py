"""The version of geoadapters.

In a module of its own, so that any module reads it without importing the package face.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
