"""Raster I/O with rasterio: reading scenes in windows, writing predictions as Cloud-Optimised GeoTIFFs."""
