"""``python -m demo [--host 127.0.0.1] [--port 7860] [--share] ...``: start the Gradio demo."""

import argparse
import logging

from demo.app import MAX_PIXELS, build_app


def main(argv: list[str] | None = None) -> None:
    """Parse the options and serve the demo until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m demo", description="Start the geoadapters Gradio demo.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--offline", action="store_true", help="offer the bundled adapter only")
    parser.add_argument("--max-file-size", default="200mb", help="largest upload (default: %(default)s)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="predictions at once (default: %(default)s)"
    )
    parser.add_argument("--queue-size", type=int, default=16, help="requests waiting (default: %(default)s)")
    parser.add_argument(
        "--max-megapixels",
        type=float,
        default=MAX_PIXELS / 1e6,
        help="largest scene predicted, height x width (default: %(default).1f)",
    )
    args = parser.parse_args(argv)
    # its retries of an unreachable Hub are logged as warnings; the demo then offers what it has
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    app = build_app(hub=not args.offline, max_pixels=round(args.max_megapixels * 1e6))
    app.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    app.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=args.max_file_size,
        show_error=True,
    )


if __name__ == "__main__":
    main()
