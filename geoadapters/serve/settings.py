"""What a service is allowed to do: its limits and what it offers (torch-free, plain data)."""

from dataclasses import dataclass

__all__ = ["ServeSettings"]


@dataclass(frozen=True)
class ServeSettings:
    """The limits and offer of a service.

    Attributes:
        budget_gb: Most memory resident bases and adapters take together; beyond it the least
            recently used adapters are dropped.
        concurrency: Predictions that run at once.
        queue: Requests that may wait for a free slot; a request beyond answers 503 with Retry-After.
        retry_after_s: The Retry-After of a 503.
        max_request_mb: Largest request body (an uploaded scene); larger ones answer 413.
        max_pixels: Largest scene (width x height); larger ones answer 413.
        base: Catalog base of short adapter names.
        available: Adapter references offered (listed by ``GET /adapters``); empty: any reference.
        checkpoint: Local copy of the base's official checkpoint.
        device: Where models run; None: CUDA where it exists.
        allow_urls: Accept ``url`` (HTTP(S) GeoTIFFs, STAC Items) besides uploads.
    """

    budget_gb: float = 8.0
    concurrency: int = 2
    queue: int = 16
    retry_after_s: int = 5
    max_request_mb: float = 256.0
    max_pixels: int = 10_000 * 10_000
    base: str | None = None
    available: tuple[str, ...] = ()
    checkpoint: str | None = None
    device: str | None = None
    allow_urls: bool = True

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.queue < 0 or self.max_pixels < 1 or self.max_request_mb <= 0:
            raise ValueError(
                "concurrency and max_pixels must be at least 1, queue at least 0, max_request_mb > 0"
            )
