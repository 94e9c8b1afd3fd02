"""The ``geoadapters`` command group and the one place that turns errors into exit codes."""

import atexit
import logging
import os
import signal
import sys
import threading
from types import FrameType

import click

from geoadapters.cli.convert import convert_command
from geoadapters.cli.export import export_command
from geoadapters.cli.info import info_command
from geoadapters.cli.list import list_command
from geoadapters.cli.options import CONTROLS
from geoadapters.cli.predict import predict_command
from geoadapters.cli.push import push_command
from geoadapters.cli.serve import serve_command
from geoadapters.cli.vectorize import vectorize_command
from geoadapters.errors import GeoAdaptersError, OptionError, PartialError, render
from geoadapters.version import __version__

__all__ = ["EXIT_PARTIAL", "EXIT_USAGE", "cli", "main", "stdout_closed"]

# Exit codes beyond 0 (done) and 1 (failed): an option that does not fit; a batch of which some scenes
# failed while the others were written.
EXIT_USAGE = 2
EXIT_PARTIAL = 3


_LOG = logging.getLogger("geoadapters")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geoadapters")
@click.option("-v", "--verbose", is_flag=True, help="Log details and show tracebacks of errors.")
def cli(verbose: bool) -> None:
    """Adapters for geospatial foundation models: list, info, predict, vectorize, serve, export, convert."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    _LOG.setLevel(logging.DEBUG if verbose else logging.INFO)
    # its retries of a server that answers badly are logged as warnings: the error that follows is one line
    logging.getLogger("huggingface_hub").setLevel(logging.DEBUG if verbose else logging.ERROR)


cli.add_command(list_command)
cli.add_command(info_command)
cli.add_command(predict_command)
cli.add_command(export_command)
cli.add_command(convert_command)
cli.add_command(push_command)
cli.add_command(vectorize_command)
cli.add_command(serve_command)


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (batch schedulers, `timeout`) unwinds like Ctrl-C, so partial outputs are removed."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 done, 1 failed, 2 bad usage, 3 partial.

    2: an option that does not fit; 3: a batch of which some scenes failed while the others are written.

    As the ``geoadapters`` command (`argv` None) the process ends here once the command is done: every
    output is closed and published by then, so after flushing and running the exit handlers it skips
    the interpreter's teardown of torch and the model (a second or more). Called with `argv`, it returns.
    """
    if argv is None:
        # Idle OpenMP threads of torch sleep instead of spinning, so the cores they hold between the
        # model's parallel regions go to the reader and writer threads (polygons, COG blocks); set before
        # torch is imported, and only for the command's own process (a value set by the user stays).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    code = _main(argv)
    if argv is None:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            code = stdout_closed()
        sys.stderr.flush()
        logging.shutdown()
        atexit._run_exitfuncs()
        os._exit(code)
    return code


def stdout_closed() -> int:
    """What a command does when its reader closed the pipe (``... | head``): stop quietly, exit code 1.

    Standard output is pointed at /dev/null, so that the interpreter's last flush does not fail too.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


def _main(argv: list[str] | None) -> int:
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        _terminate,
    ):
        signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=argv, prog_name="geoadapters", standalone_mode=False)
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except BrokenPipeError:
        return stdout_closed()
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except GeoAdaptersError as err:
        if _LOG.isEnabledFor(logging.DEBUG):
            raise
        click.echo(f"error: {render(err.template, CONTROLS)}", err=True)
        if isinstance(err, PartialError):
            return EXIT_PARTIAL
        return EXIT_USAGE if isinstance(err, OptionError) else 1
    return 0


if __name__ == "__main__":
    main()
