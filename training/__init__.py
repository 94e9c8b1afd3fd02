"""Retraining for geoadapters: the paper's datasets, splits and data modules, run from a checkout.

``python -m training --help`` lists the commands. This package imports `geoadapters` and never the
reverse; it stays out of the wheel (see README.md).
"""
