"""``geoadapters push``: upload an adapter folder to the Hugging Face Hub, once it loads."""

import click

__all__ = ["push_command"]


@click.command("push", short_help="Upload an adapter folder to the Hub.")
@click.argument("adapter")
@click.option("--repo", "repo_id", required=True, help="Hub repository ORG/NAME (created if needed).")
@click.option("--private", is_flag=True, help="Create the repository private.")
@click.option("--revision", help="Branch to commit to (created from main if needed).")
@click.option("-m", "--message", help="Commit message.")
def push_command(
    adapter: str, repo_id: str, private: bool, revision: str | None, message: str | None
) -> None:
    """Check that ADAPTER loads (config and tensors), upload its folder to the Hub, print the commit id.

    ADAPTER is an adapter folder (or any reference that resolves to one). It then loads by
    `ORG/NAME@COMMIT`, and by its short name `<dataset>-<method>` when the repository is named
    `<org>/<base>-<dataset>-<method>` (org: $GEOADAPTERS_ORG, else geoadapters).
    Authentication is huggingface_hub's (`hf auth login` or $HF_TOKEN).
    """
    from geoadapters.factory import push

    commit = push(adapter, repo_id, private=private, revision=revision, message=message)
    click.echo(commit)
