"""``geoadapters list``: the base models of the catalog."""

import json

import click

from geoadapters.catalog import get_base, list_models

__all__ = ["list_command"]


@click.command("list", short_help="List the base models.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """List the base models of the catalog, with their bands and official weights."""
    specs = [get_base(name) for name in list_models()]
    if as_json:
        rows = [
            {
                "name": s.name,
                "family": s.family,
                "bands": list(s.input.bands),
                "repo_id": s.weights.repo_id,
                "filename": s.weights.filename,
                "revision": s.weights.revision,
                "description": s.description,
            }
            for s in specs
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(s.name) for s in specs)
    click.echo(f"{'NAME':<{width}}  {'BANDS':>5}  WEIGHTS")
    for s in specs:
        click.echo(f"{s.name:<{width}}  {len(s.input.bands):>5}  {s.weights.repo_id}")
        click.echo(f"{'':<{width}}         {s.description}")
