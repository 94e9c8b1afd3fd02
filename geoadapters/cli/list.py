"""``geoadapters list``: the base models of the catalog."""

import json

import click

from geoadapters.catalog import get_base, list_models
from geoadapters.families import family_of

__all__ = ["list_command"]


@click.command("list", short_help="List base models, or adapters on the Hub.")
@click.option("--adapters", is_flag=True, help="List the adapters published on the Hub instead.")
@click.option("--model", "base", help="With --adapters: only those of this base model.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(adapters: bool, base: str | None, as_json: bool) -> None:
    """List the base models of the catalog, with their bands and official weights.

    With --adapters, list the adapter repositories of the organisation GEOADAPTERS_ORG (default
    "geoadapters") on the Hub.
    """
    if adapters:
        from geoadapters.hub.transport import list_repos
        from geoadapters.references import adapter_org

        if base is not None:
            get_base(base)
        repos = list_repos(adapter_org(), search=base)
        click.echo(
            json.dumps(repos, indent=2) if as_json else "\n".join(repos) or f"no adapters of {adapter_org()}"
        )
        return
    specs = [get_base(name) for name in list_models()]
    if as_json:
        rows = [
            {
                "name": s.name,
                "family": family_of(s.arch).name,
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
