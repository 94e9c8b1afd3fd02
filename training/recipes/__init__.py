"""The paper's recipes: one LightningCLI config per cell of its experiments (``<family>/...yaml``).

- ``<base>/<dataset>-<method>.yaml``: the PEFT matrix (bases prithvi-100, prithvi-300, clay-v1,
  decur-s2; methods as the paper has them per base), linear head;
- ``decoders/<base>/<dataset>-<head>.yaml``: the decoder ablation (full fine-tuning, 6 bands, fcn,
  upernet, unet);
- ``metadata/<variant>/<dataset>.yaml``: the metadata runs (prithvi-300-tl with and without time
  and location, Clay with time, location, GSD and wavelengths).

They are written by `training.recipes.generate` from ``learning_rates.csv`` (the learning rate of
every cell, with the paper's config file it comes from).
"""

from pathlib import Path

__all__ = ["RECIPES_DIR", "list_recipes"]

RECIPES_DIR = Path(__file__).parent


def list_recipes() -> list[Path]:
    """Every recipe file, sorted."""
    return sorted(RECIPES_DIR.rglob("*.yaml"))
