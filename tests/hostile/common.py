"""What every hostile case asserts of a command: its exit code and one line of error, no traceback."""

from pathlib import Path

from geoadapters.cli.main import main
from geoadapters.default import DEFAULT_ADAPTER

ADAPTER = Path(DEFAULT_ADAPTER)  # the bundled offline model: 6 bands, 2 classes, 128 px tiles


def refused(args, capsys, code=1) -> str:
    """Run the CLI; assert exit `code` and a one-line error on stderr (after click's usage lines for a
    usage error, code 2); return that line."""
    assert main([str(a) for a in args]) == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert lines and (len(lines) == 1 or (code == 2 and lines[0].startswith("Usage:"))), err
    return lines[-1]
