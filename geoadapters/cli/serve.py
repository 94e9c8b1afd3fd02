"""``geoadapters serve``: the HTTP service over resident adapters (`geoadapters.serve.app`), on uvicorn."""

import click

from geoadapters.cli.options import checkpoint_opt, model_opt

__all__ = ["serve_command"]


@click.command("serve", short_help="Serve predictions over HTTP.")
@model_opt
@click.option(
    "--adapter", "available", multiple=True, help="An adapter offered (repeat); default: any reference."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port.")
@click.option("--budget", type=click.FloatRange(min=0.01), default=8.0, show_default=True,
              help="GB resident bases and adapters may take (least recently used go first).")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(min=1), default=2, show_default=True,
              help="Predictions that run at once.")  # fmt: skip
@click.option("--queue", type=click.IntRange(min=0), default=16, show_default=True,
              help="Requests that may wait; more answer 503 with Retry-After.")  # fmt: skip
@click.option("--max-request-mb", type=click.FloatRange(min=0.001), default=256.0, show_default=True,
              help="Largest request body (an uploaded scene); larger ones answer 413.")  # fmt: skip
@click.option("--max-pixels", type=click.IntRange(min=1), default=100_000_000, show_default=True,
              help="Largest scene (width x height); larger ones answer 413.")  # fmt: skip
@click.option("--no-urls", is_flag=True, help="Take uploaded scenes only, no url.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@checkpoint_opt
def serve_command(
    base: str | None, available: tuple[str, ...], host: str, port: int, budget: float, concurrency: int,
    queue: int, max_request_mb: float, max_pixels: int, no_urls: bool, device: str, checkpoint: object,
) -> None:  # fmt: skip
    """Answer POST /predict (a GeoTIFF upload or url, and an adapter) with the COG class map.

    GET /health and GET /adapters (resident and offered) tell its state. Needs the serve extra
    (pip install 'geoadapters[serve]'). It keeps no state but resident models: run replicas behind a
    load balancer, each with the adapters in its Hub cache (docs/serve.md).
    """
    from geoadapters.errors import MissingDependencyError

    try:
        import uvicorn

        from geoadapters.serve.app import create_app
    except ImportError as err:
        raise MissingDependencyError("geoadapters serve", extra="serve") from err
    from geoadapters.serve.settings import ServeSettings

    settings = ServeSettings(
        budget_gb=budget, concurrency=concurrency, queue=queue, max_request_mb=max_request_mb,
        max_pixels=max_pixels, base=base, available=available,
        checkpoint=None if checkpoint is None else str(checkpoint),
        device=None if device == "auto" else device, allow_urls=not no_urls,
    )  # fmt: skip
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
