"""Adapters from strangers: every hostile geoadapter.json, weights file, reference or Hub answer is a
one-line error (exit 1, or 2 for usage), refused before anything large is allocated, and writes nothing.

Each case builds its hostile input here: small files declaring huge models, JSON bombs, symlinks to
/dev/zero, FIFOs, NaN tensors, revisions that are paths, Hub servers on 127.0.0.1 that answer badly.
"""

import copy
import http.server
import json
import os
import pickle
import re
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import geoadapters
from geoadapters.cli.main import main
from geoadapters.config import AdapterConfig, Inference
from geoadapters.errors import AdapterError, CheckpointError, ResourceError, WeightsNotFoundError
from geoadapters.hub import transport
from geoadapters.inference.onnx_metadata import onnx_metadata, parse_metadata
from geoadapters.models.checkpoint import read_state_dict
from geoadapters.references import resolve_adapter
from tests.conftest import S1F11, S2_CHIP, TEST_BASE, files_under
from tests.models.official import prithvi_checkpoint

CONFIG = "geoadapter.json"
WEIGHTS = "adapter_model.safetensors"


@pytest.fixture(scope="module")
def good(tmp_path_factory, checkpoint):
    """A small valid LoRA adapter folder of the test base."""
    torch.manual_seed(0)
    model = geoadapters.create(
        TEST_BASE, "lora", classes=["dry", "wet"], checkpoint=checkpoint, input=S1F11,
        inference=Inference(64, 16, 4), r=4,
    )  # fmt: skip
    return model.save_pretrained(tmp_path_factory.mktemp("good") / "adapter")


def copy_adapter(good: Path, dest: Path, edit=None, tensors=None) -> Path:
    """A copy of `good` with its config edited by `edit(dict)` and/or its tensors replaced."""
    dest.mkdir(parents=True)
    for f in good.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    if edit is not None:
        data = json.loads((good / CONFIG).read_text())
        edit(data)
        (dest / CONFIG).write_text(json.dumps(data))
    if tensors is not None:
        state = load_file(good / WEIGHTS)
        save_file(tensors(state), dest / WEIGHTS)
    return dest


def run_cli(args, capsys, code=1):
    """Run the CLI; assert its exit code and a one-line error on stderr; return that line."""
    assert main([str(a) for a in args]) == code
    err = capsys.readouterr().err.strip()
    if code == 1:
        assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in err
    return err


def setter(path, value):
    def edit(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


# (edit of geoadapter.json, pattern of the one-line error): each must fail at read, before building
BAD_CONFIGS = {
    "depth 10^6": (setter(("base", "overrides", "depth"), 10**6), r"depth must be .*equal to 128"),
    "embed_dim 10^7": (setter(("base", "overrides", "embed_dim"), 10**7), r"embed_dim must be .*8192"),
    "num_heads 0": (setter(("base", "overrides", "num_heads"), 0), r"num_heads must be .*equal to 1"),
    "img_size huge tokens": (
        lambda d: d["base"]["overrides"].update(img_size=4096, num_frames=4),
        r"tokens; at most",
    ),
    "mlp_ratio nan": (setter(("base", "overrides", "mlp_ratio"), float("nan")), r"finite"),
    "override timm_name": (
        setter(("base", "overrides", "timm_name"), "vit_giant"),
        r"no overridable setting",
    ),
    "override unknown": (setter(("base", "overrides", "evil"), 1), r"no overridable setting evil"),
    "override wrong type": (setter(("base", "overrides", "depth"), "4"), r"depth must be a valid integer"),
    "overrides not an object": (setter(("base", "overrides"), [1, 2]), r"base.overrides must be an object"),
    "lora r 10^7": (setter(("method", "settings", "r"), 10**7), r"method lora: r must .*1024"),
    "lora r string": (setter(("method", "settings", "r"), "16"), r"r must be a valid integer"),
    "lora r bool": (setter(("method", "settings", "r"), True), r"r must be a valid integer"),
    "target_modules string": (setter(("method", "settings", "target_modules"), "qv"), r"target_modules must"),
    "lora alpha inf": (setter(("method", "settings", "lora_alpha"), float("inf")), r"lora_alpha must be"),
    "unknown method setting": (setter(("method", "settings", "rank"), 4), r"has no setting rank"),
    "method settings a list": (setter(("method", "settings"), [1]), r"method.settings must be an object"),
    "method a string": (setter(("method",), "lora"), r"method must be an object"),
    "method name a number": (setter(("method", "name"), 7), r"method.name must be a valid string"),
    "unknown head": (setter(("head", "name"), "evil"), r"evil"),
    "head channels 10^9": (
        lambda d: d.update(head={"name": "fcn", "settings": {"channels": 10**9}}),
        r"channels must be less than or equal to 8192",
    ),
    "10^6 classes": (
        setter(("classes",), [f"c{i}" for i in range(10**5)]),
        r"is \d[\d,]* bytes|classes must have at most 1024 items",
    ),
    "2000 classes": (setter(("classes",), [f"c{i}" for i in range(2000)]), r"at most 1024 items"),
    "classes a string": (setter(("classes",), "ab"), r"classes must be a valid array"),
    "no classes": (setter(("classes",), []), r"classes must have at least 1 items"),
    "tile size 10^6": (setter(("inference", "tile_size"), 10**6), r"inference.tile_size must .*4096"),
    "batch 10^6": (setter(("inference", "batch_size"), 10**6), r"inference.batch_size must .*1024"),
    "inference a list": (setter(("inference",), [224]), r"inference must be an object"),
    "std nan": (setter(("input", "std"), [float("nan")] * 6), r"input.std.0 must be a finite number"),
    "std zero": (setter(("input", "std"), [0] * 6), r"input.std.0 must be greater than 0"),
    "scale -1": (setter(("input", "scale"), -1), r"input.scale must be greater than 0"),
    "scale inf": (setter(("input", "scale"), float("inf")), r"input.scale must be a finite number"),
    "mean string": (setter(("input", "mean"), "abc"), r"input.mean must be a valid array"),
    "revision a path": (setter(("base", "revision"), "../../x"), r"neither a 40-hex commit"),
    "revision refs/pr": (setter(("base", "revision"), "refs/pr/1"), r"neither a 40-hex commit"),
    "revision unicode": (setter(("base", "revision"), "mäin"), r"neither a 40-hex commit"),
    "repo_id a path": (setter(("base", "repo_id"), "../etc"), r"no Hub repository id"),
    "provenance a list": (setter(("provenance",), [1]), r"provenance must be an object"),
    "metrics a string": (setter(("metrics",), "x"), r"metrics must be an object"),
    "format_version true": (setter(("format_version",), True), r"format_version 'True'"),
    "format_version 0": (setter(("format_version",), 0), r"format_version '0'"),
    "unknown base": (setter(("base", "name"), "no-such-base"), r"no-such-base"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_hostile_config_is_refused_at_read(case, good, tmp_path, capsys):
    edit, message = BAD_CONFIGS[case]
    folder = copy_adapter(good, tmp_path / "adapter", edit)
    with pytest.raises(AdapterError, match=message):
        AdapterConfig.read(folder / CONFIG)
    before = files_under(tmp_path)
    err = run_cli(["info", folder], capsys)
    assert re.search(message, err), err
    assert files_under(tmp_path) == before


JSON_BOMBS = {
    "10^5-deep lists": lambda: "[" * 100_000 + "]" * 100_000,
    "10^5-deep objects": lambda: '{"a":' * 100_000 + "1" + "}" * 100_000,
    "2 MB of spaces": lambda: " " * (2 << 20) + "{}",
    "a JSON list": lambda: "[1, 2]",
    "not UTF-8": lambda: b"\xff\xfe{".decode("latin-1"),
    "5000-digit integer": lambda: '{"format_version": ' + "9" * 5000 + "}",
}


@pytest.mark.parametrize("case", list(JSON_BOMBS))
def test_json_bombs_are_one_line_errors(case, good, tmp_path, capsys):
    folder = copy_adapter(good, tmp_path / "adapter")
    (folder / CONFIG).write_bytes(JSON_BOMBS[case]().encode("latin-1"))
    before = files_under(tmp_path)
    run_cli(["info", folder], capsys)
    assert files_under(tmp_path) == before


def test_config_that_is_a_device_or_fifo_is_refused_without_reading(good, tmp_path, capsys):
    zero = copy_adapter(good, tmp_path / "zero")
    (zero / CONFIG).unlink()
    (zero / CONFIG).symlink_to("/dev/zero")
    assert "not a regular file" in run_cli(["info", zero], capsys)
    with pytest.raises(AdapterError, match="not a regular file"):
        AdapterConfig.read(zero / CONFIG)  # directly too: no read of /dev/zero until memory runs out
    fifo = copy_adapter(good, tmp_path / "fifo")
    (fifo / CONFIG).unlink()
    os.mkfifo(fifo / CONFIG)
    assert "not a regular file" in run_cli(["info", fifo], capsys)  # does not block on the FIFO
    with pytest.raises(AdapterError, match="not a regular file"):
        AdapterConfig.read(fifo / CONFIG)
    weights = copy_adapter(good, tmp_path / "weights")
    (weights / WEIGHTS).unlink()
    (weights / WEIGHTS).symlink_to("/dev/zero")
    assert "not a regular file" in run_cli(["info", weights], capsys)


def test_a_symlink_to_a_regular_file_is_fine(good, tmp_path, capsys):
    folder = tmp_path / "linked"
    folder.mkdir()
    for f in good.iterdir():
        (folder / f.name).symlink_to(f)  # the Hugging Face cache is made of such links
    assert main(["info", str(folder)]) == 0


# (tensor edit, pattern): each must fail before the model is used
BAD_TENSORS = {
    "NaN": (lambda s: {k: torch.full_like(v, float("nan")) for k, v in s.items()}, "NaN or infinite"),
    "Inf in one tensor": (
        lambda s: {k: (v.fill_(float("inf")) if i == 0 else v) for i, (k, v) in enumerate(s.items())},
        "NaN or infinite",
    ),
    "integer tensors": (lambda s: {k: v.to(torch.int32) for k, v in s.items()}, "not floating point"),
    "bool tensor": (lambda s: {k: v > 0 for k, v in s.items()}, "not floating point"),
    "wider than declared": (
        lambda s: {
            k: torch.zeros(*v.shape[:-1], v.shape[-1] * 2) if "lora_A" in k else v for k, v in s.items()
        },
        "do not fit the architecture.*wrong shape",
    ),
    "a tensor missing": (lambda s: dict(list(s.items())[1:]), "do not fit the architecture.*missing"),
    "a frozen base tensor added": (
        lambda s: s | {"base_model.model.blocks.0.attn.proj.weight": torch.zeros(64, 64)},
        "do not fit the architecture.*unexpected",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TENSORS))
def test_hostile_tensors_are_refused(case, good, tmp_path, checkpoint, capsys):
    edit, message = BAD_TENSORS[case]
    folder = copy_adapter(good, tmp_path / "adapter", tensors=edit)
    scene = tmp_path / "scene.tif"
    scene.write_bytes(S2_CHIP.read_bytes())  # a good scene: the adapter is what must be refused
    before = files_under(tmp_path)
    with pytest.raises(AdapterError, match=message):
        geoadapters.load(TEST_BASE, folder, checkpoint=checkpoint)
    err = run_cli(["predict", scene, "--model", TEST_BASE, "--adapter", folder, "--checkpoint", checkpoint],
                  capsys)  # fmt: skip
    assert re.search(message, err), err
    assert files_under(tmp_path) == before


def test_a_small_file_declaring_a_huge_model_is_refused_before_building(good, tmp_path):
    # depth 128 x width 8192 passes the per-field bounds; the shapes in the file and the budget do not
    folder = copy_adapter(good, tmp_path / "wide", setter(("base", "overrides"), {"embed_dim": 8192,
                          "depth": 128, "num_heads": 64}))  # fmt: skip
    with pytest.raises(AdapterError, match="do not fit the architecture"):
        geoadapters.load(TEST_BASE, folder)
    # a model whose file fits its declaration is still refused above the budget, before building
    with pytest.raises(ResourceError, match="over the memory budget"):
        geoadapters.load(TEST_BASE, good, memory_budget_gb=0.001)


def cls_token(model):
    return next(v for k, v in model.state_dict().items() if k.endswith("cls_token"))


def test_the_adapter_never_chooses_the_base_weights(fake_hub, good, tmp_path, capsys):
    repo = geoadapters.get_base(TEST_BASE).weights.repo_id
    official = prithvi_checkpoint(tmp_path / "main.pt", dim=64, depth=4, seed=1)
    fake_hub.add_files(repo, {"Prithvi_EO_V2_300M.pt": (tmp_path / "main.pt").read_bytes()})
    evil = prithvi_checkpoint(tmp_path / "evil.pt", dim=64, depth=4, seed=2)
    evil_sha = fake_hub.add_files(repo, {"Prithvi_EO_V2_300M.pt": (tmp_path / "evil.pt").read_bytes()},
                                  branch="evil")  # fmt: skip
    for revision in ("evil", evil_sha):
        folder = copy_adapter(
            good, tmp_path / f"claims-{revision[:8]}", setter(("base", "revision"), revision)
        )
        model = geoadapters.load(TEST_BASE, folder)
        assert torch.equal(cls_token(model), official["cls_token"])
        assert not torch.equal(official["cls_token"], evil["cls_token"])
        assert main(["info", str(folder)]) == 0
        out = capsys.readouterr().out
        assert f"{repo}/Prithvi_EO_V2_300M.pt @ main" in out and revision not in out.split("weights:")[1]
    # the user may choose it explicitly
    pinned = geoadapters.load(TEST_BASE, good, base_revision=evil_sha)
    assert torch.equal(cls_token(pinned), evil["cls_token"])


def test_a_full_fine_tune_says_it_uses_no_official_weights(tmp_path, capsys):
    model = geoadapters.create(TEST_BASE, "full", classes=["a", "b"], pretrained=False, input=S1F11)
    folder = model.save_pretrained(tmp_path / "full")
    assert main(["info", str(folder)]) == 0
    assert "full fine-tune" in capsys.readouterr().out


BAD_REFERENCES = {
    "dot-dot revision": "org/name@../../x",
    "refs/pr revision": "org/name@refs/pr/1",
    "revision with a space": "org/name@a b",
    "unicode name": "örg/näme",
    "300-character name": "org/" + "n" * 300,
    "dot-dot repo": "../name",
    "three parts": "a/b/c",
    "URL": "https://example.com/org/name",
    "empty": "",
}


@pytest.mark.parametrize("case", list(BAD_REFERENCES))
def test_hostile_references_make_no_request(case, fake_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AdapterError):
        resolve_adapter(BAD_REFERENCES[case], TEST_BASE)
    run_cli(["info", BAD_REFERENCES[case], "--model", TEST_BASE], capsys)
    assert fake_hub.requests == [] and list(tmp_path.iterdir()) == []


def test_a_revision_override_is_checked_too(fake_hub):
    with pytest.raises(AdapterError, match="neither a 40-hex commit"):
        resolve_adapter("org/name", TEST_BASE, revision="../../../tmp/x")
    assert fake_hub.requests == []


@pytest.mark.parametrize("org", ["../x", "a b", "évil", "x" * 300])
def test_a_bad_org_is_a_one_line_error(org, fake_hub, monkeypatch, capsys):
    monkeypatch.setenv("GEOADAPTERS_ORG", org)
    assert "GEOADAPTERS_ORG" in run_cli(["info", "burn_scars-lora", "--model", TEST_BASE], capsys)
    assert fake_hub.requests == []


class BadHub(http.server.BaseHTTPRequestHandler):
    """A Hub that answers every request with `mode`: a 500, a short body, a hostile header, silence."""

    protocol_version = "HTTP/1.1"
    mode = "500"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.answer(head=True)

    def do_GET(self):
        self.answer(head=False)

    def answer(self, head):
        body = b'{"format_version": 1}' * 10
        if self.mode == "500":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        commit = {"path commit": "../../../escape", "no commit": None}.get(self.mode, "a" * 40)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", '"abc"')
        length = len(body) * (1000 if self.mode == "short body" else 1)
        if self.mode == "huge length":
            length = 10**15
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not head:
            self.wfile.write(body)
            self.close_connection = True


@pytest.fixture
def bad_hub(monkeypatch):
    servers = []

    def start(mode):
        handler = type("Handler", (BadHub,), {"mode": mode})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# A server that accepts and then says nothing is not bounded yet (huggingface_hub waits on the body):
# that case is left out until the client sets a read timeout of its own.
MODES = ["500", "short body", "huge length", "path commit", "no commit"]


@pytest.mark.parametrize("mode", MODES)
def test_a_hub_that_answers_badly_is_a_one_line_error(mode, bad_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(transport, "TIMEOUT", 1.0)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DOWNLOAD_TIMEOUT", 1)
    monkeypatch.chdir(tmp_path)
    bad_hub(mode)
    with pytest.raises(WeightsNotFoundError) as caught:
        resolve_adapter("org/name", TEST_BASE)
    if mode == "500":
        assert "HTTP 500" in str(caught.value) and "offline" not in str(caught.value)
    run_cli(["info", "org/name"], capsys)
    assert list(tmp_path.iterdir()) == []
    cache = Path(os.environ["HF_HUB_CACHE"])
    # "../../../escape" from a snapshot folder lands beside the cache, among other tests' folders
    escaped = [p for p in cache.parent.rglob("escape") if cache not in p.parents]
    assert escaped == []


def test_a_refused_pickle_does_not_advise_disabling_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"state_dict": {"w": torch.zeros(1)}, "x": Evil()}))
    with pytest.raises(CheckpointError) as caught:
        read_state_dict(path)
    message = str(caught.value)
    assert "never unpickled" in message and "weights_only" not in message and "\n" not in message


TAMPERED = {
    "config a list": {"geoadapter.json": "[1]"},
    "config not JSON": {"geoadapter.json": "{"},
    "config deep": {"geoadapter.json": "[" * 100_000 + "]" * 100_000},
    "tile size huge": {"tile_size": "1000000"},
    "tile size text": {"tile_size": "big"},
    "precision odd": {"precision": "fp64"},
    "depth bomb": "depth",
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_onnx_metadata_is_a_clear_error(case, good):
    config = AdapterConfig.read(good / CONFIG)
    props = onnx_metadata(config, 64, "fp32")
    if TAMPERED[case] == "depth":
        data = copy.deepcopy(config.to_dict())
        data["base"]["overrides"]["depth"] = 10**6
        props["geoadapter.json"] = json.dumps(data)
    else:
        props |= TAMPERED[case]
    with pytest.raises(CheckpointError, match="invalid geoadapters metadata"):
        parse_metadata(props, "model.onnx", ["batch", 6, 64, 64], ["batch", 2, 64, 64])
