"""The demo served by ``python -m demo`` on 127.0.0.1, started once for the module's tests."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "demo" / "examples" / "Spain_7370579_S2Hand.tif"
# The first start imports gradio and torch on a busy 2-core machine.
_START_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a demo process (offline, an empty Hugging Face cache), stopped after the session."""
    home = tmp_path_factory.mktemp("demo-home")
    env = os.environ | {
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": str(home / "hf"),
        "HF_HUB_CACHE": str(home / "hf" / "hub"),
        "GEOADAPTERS_CACHE": str(home / "geoadapters"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(home / "gradio"),
        "TMPDIR": str(home),
    }
    port = _free_port()
    log = (home / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", str(port), "--max-file-size", "50mb"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + _START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the demo exited with {process.returncode}:\n{(home / 'demo.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the demo did not answer within {_START_S} s:\n{(home / 'demo.log').read_text()}"
                )
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
