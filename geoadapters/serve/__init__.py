"""``geoadapters serve``: an HTTP service over resident adapters (the ``serve`` extra: FastAPI, uvicorn)."""
