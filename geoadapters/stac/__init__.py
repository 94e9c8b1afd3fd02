"""STAC: the MLM description of adapters and the Items of predictions (pystac, schemas vendored)."""
