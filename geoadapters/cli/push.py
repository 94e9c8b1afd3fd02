"""``geoadapters push``: upload an adapter folder to the Hugging Face Hub, once it loads."""

from pathlib import Path

import click

__all__ = ["push_command"]


@click.command("push", short_help="Upload an adapter folder to the Hub.")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--repo", "repo_id", required=True, help="Hub repository ORG/NAME (created if needed).")
@click.option("--private", is_flag=True, help="Create the repository private.")
@click.option("--revision", help="Branch to commit to (created from main if needed).")
@click.option("-m", "--message", help="Commit message.")
def push_command(
    folder: Path, repo_id: str, private: bool, revision: str | None, message: str | None
) -> None:
    """Check that FOLDER loads (config and tensors), upload it to the Hub and print the commit id.

    It then loads by `ORG/NAME@COMMIT`, and by its short name `<dataset>-<method>` when the
    repository is named `<org>/<base>-<dataset>-<method>` (org: $GEOADAPTERS_ORG, else geoadapters).
    Authentication is huggingface_hub's (`hf auth login` or $HF_TOKEN).
    """
    from geoadapters.factory import push

    commit = push(folder, repo_id, private=private, revision=revision, message=message)
    click.echo(commit)
