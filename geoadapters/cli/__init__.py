"""The ``geoadapters`` command line: thin commands over the library's functions."""
