"""Remote reads from hostile servers on 127.0.0.1: hanging, trickling, redirecting in a loop, answering
HTML, sending without end, failing; credentials inside URLs. Each read ends within its bounds
(``$GEOADAPTERS_HTTP_TIMEOUT``, ``$GEOADAPTERS_HTTP_RETRIES``, ``$GEOADAPTERS_REMOTE_JSON_MB``) as a
one-line error that holds no secret.

Before issue 24: STAC Items were fetched by pystac without a timeout (a hanging server hung the run),
of any size, and credentials in a URL were printed in messages.
"""

import time

import pytest

from geoadapters.errors import OptionError, RasterError
from geoadapters.raster.remote import fetch_json, redact, remote_limits
from tests.hostile.common import refused
from tests.hostile.servers import serve


@pytest.fixture(autouse=True)
def _short_limits(monkeypatch):
    monkeypatch.setenv("GEOADAPTERS_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("GEOADAPTERS_HTTP_RETRIES", "1")
    monkeypatch.setenv("GEOADAPTERS_REMOTE_JSON_MB", "1")


@pytest.mark.parametrize(
    ("kind", "message", "tries"),
    [
        ("hang", "timed out", 2),
        ("trickle", "total time ran out", 1),
        ("loop", "redirect", 1),
        ("html", "no JSON document", 1),
        ("endless", "is over 1,048,576 bytes", 1),
        ("error", "HTTP 503", 2),
    ],
)
def test_a_hostile_server_is_one_bounded_error(kind, message, tries):
    with serve(kind) as server:
        started = time.monotonic()
        with pytest.raises(RasterError, match=message) as err:
            fetch_json(server.url())
        took = time.monotonic() - started
        assert took < 6, took  # timeout 1 s x (1 retry + 1), and a second between tries
        assert "\n" not in str(err.value)
        # retries are bounded; urllib follows a loop of redirects 10 times at most, once
        assert server.hits <= (11 if kind == "loop" else tries)


def test_credentials_in_urls_never_reach_a_message(capsys):
    with serve("hang") as server:
        url = server.url("/item.json").replace("http://", "http://alice:s3cret@") + "?token=SIGNED"
        with pytest.raises(RasterError) as err:
            fetch_json(url)
        assert "s3cret" not in str(err.value) and "SIGNED" not in str(err.value) and "***" in str(err.value)
        line = refused(["predict", url, "-o", "out.tif"], capsys)
        assert "s3cret" not in line and "SIGNED" not in line
    assert (
        redact("see https://u:p@h.example/a?sig=1 and s3://b/k")
        == "see https://***@h.example/a?*** and s3://b/k"
    )


@pytest.mark.parametrize("value", ["0", "-1", "soon", "1e9"])
def test_limits_are_configurable_and_checked(monkeypatch, value):
    monkeypatch.setenv("GEOADAPTERS_HTTP_TIMEOUT", value)
    with pytest.raises(OptionError, match="GEOADAPTERS_HTTP_TIMEOUT must be a number"):
        remote_limits()
    monkeypatch.setenv("GEOADAPTERS_HTTP_TIMEOUT", "7")
    assert remote_limits() == (7.0, 1, 1 << 20)
