"""The package's layers, checked statically from the source: imports point one way.

Every import statement counts, function-level ones included (they are how heavy modules load lazily,
but they are still dependencies), and so do the lazy tables of a package face (``_LAZY = {name:
"module"}``) and the ``"module:attribute"`` targets of registrations; imports under ``if
TYPE_CHECKING:`` do not run and do not count.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "geoadapters"

# Torch-free vocabulary and the adapter artifact: readable without any model code.
TORCH_FREE = [
    "geoadapters",
    "geoadapters._registry",
    "geoadapters._serde",
    "geoadapters._staging",
    "geoadapters.bands",
    "geoadapters.cache",
    "geoadapters.catalog",
    "geoadapters.config",
    "geoadapters.default",
    "geoadapters.errors",
    "geoadapters.families",
    "geoadapters.specs",
    "geoadapters.references",
    "geoadapters.version",
    "geoadapters.heads",
    "geoadapters.heads.registry",
    "geoadapters.heads.settings",
    "geoadapters.methods",
    "geoadapters.methods.registry",
    "geoadapters.methods.settings",
    "geoadapters.hub",
    "geoadapters.hub.card",
    "geoadapters.hub.transport",
    "geoadapters.hub.folder",
    "geoadapters.inference",
    "geoadapters.inference.cluster",
    "geoadapters.inference.jobs",
    "geoadapters.inference.onnx_metadata",
    "geoadapters.inference.preflight",
    "geoadapters.inference.request",
    "geoadapters.inference.results",
    "geoadapters.inference.resume",
    "geoadapters.inference.scenes",
    "geoadapters.inference.tiling",
    "geoadapters.raster.area",
    "geoadapters.raster.outputs",
    "geoadapters.raster.remote",
    "geoadapters.raster.stac",
    "geoadapters.stac",
    "geoadapters.stac.model",
    "geoadapters.cli.vectorize",
    "geoadapters.cli.main",
    "geoadapters.cli.options",
    "geoadapters.cli.convert",
    "geoadapters.convert",
    "geoadapters.cli.push",
    "geoadapters.cli.predict",
    "geoadapters.cli.progress",
]
# The predict path of an exported model: numpy, rasterio and onnxruntime, never torch (or onnx, which
# only export needs); tests/inference/test_light.py runs it with torch blocked.
TORCH_FREE_PREDICT = [
    "geoadapters.inference.array",
    "geoadapters.inference.background",
    "geoadapters.inference.blending",
    "geoadapters.inference.devices",
    "geoadapters.inference.onnx_runner",
    "geoadapters.inference.predict",
    "geoadapters.inference.runners",
    "geoadapters.inference.strips",
    "geoadapters.inference.tta",
    "geoadapters.cli.info",
    "geoadapters.cli.export",
    "geoadapters.raster.read",
    "geoadapters.raster.write",
    "geoadapters.raster.vector",
    "geoadapters.raster.polygons",
    "geoadapters.raster.polygon_process",
    "geoadapters.raster.metadata",
]
TORCH = ("torch", "timm", "peft", "onnx", "training", "demo", "lightning", "gradio")
HEAVY = (
    "torch",
    "timm",
    "peft",
    "onnx",
    "onnxruntime",
    "rasterio",
    "training",
    "demo",
    "lightning",
    "gradio",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.AST) -> set[str]:
    """Modules named as strings: the values of a ``_LAZY`` table, the modules of ``"module:attr"``."""
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets
    ):
        assert isinstance(node.value, ast.Dict)
        return {v.value for v in node.value.values if isinstance(v, ast.Constant)}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        module, colon, attribute = node.value.partition(":")
        if colon and module.startswith("geoadapters.") and attribute.isidentifier():
            return {module}
    return set()


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Modules a file imports (``from pkg import sub`` counts as ``pkg.sub`` when ``sub`` is a module).

    Without `top_level_only`, the modules its lazy tables and registrations name count too.
    """
    found: set[str] = set()

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if not top_level_only:
                found.update(_targets(child))
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, nested)
                continue
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if top_level_only and inner:
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                for alias in child.names:
                    candidate = f"{child.module}.{alias.name}"
                    sub = ROOT.joinpath(*candidate.split("."))
                    if sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file():
                        found.add(candidate)
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


@pytest.fixture(scope="module")
def files() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.fixture(scope="module")
def graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Edges between the package's own modules, every import counted."""
    return {name: {m for m in _imports(path) if m in files} - {name} for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph, or [] if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_graph_sees_function_level_imports_lazy_tables_and_registrations(graph):
    # predict's command imports the run path lazily, inside the function
    assert "geoadapters.inference.scenes" in graph["geoadapters.cli.predict"]
    assert "geoadapters.factory" in graph["geoadapters"]  # _LAZY = {"load": "geoadapters.factory", ...}
    assert "geoadapters.methods.lora" in graph["geoadapters.methods.registry"]  # "...lora:LORA"
    assert "geoadapters.models.prithvi" in graph["geoadapters.catalog"]  # its family's encoder


def test_no_module_imports_the_package_face(graph):
    # the version lives in geoadapters.version; the face only re-exports
    assert sorted(name for name, targets in graph.items() if "geoadapters" in targets) == []


def test_no_import_cycles(graph):
    assert _cycle(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_runtime_never_imports_training_or_demo(files):
    for name, path in files.items():
        outside = sorted(m for m in _imports(path) if m.split(".")[0] in ("training", "demo"))
        assert outside == [], name


@pytest.mark.parametrize("layer", ["models", "methods", "heads"])
def test_model_code_never_imports_inference_cli_or_the_artifact_layer(graph, layer):
    # the Hub (base weights, adapter folders, cards) and references are reached above the model code
    forbidden = ("geoadapters.inference", "geoadapters.cli", "geoadapters.hub", "geoadapters.references")
    for name, targets in graph.items():
        if name.startswith(f"geoadapters.{layer}"):
            assert sorted(t for t in targets if t.startswith(forbidden)) == [], name


def test_vocabulary_and_artifact_modules_import_nothing_heavy_at_module_level(files):
    closure: dict[str, set[str]] = {}

    def heavy(name: str) -> set[str]:
        if name not in closure:
            closure[name] = set()
            imports = _imports(files[name], top_level_only=True)
            own = {m for m in imports if m in files}
            closure[name] = {m for m in imports if m.split(".")[0] in HEAVY}
            for module in own - {name}:
                closure[name] |= heavy(module)
        return closure[name]

    for name in TORCH_FREE:
        assert heavy(name) == set(), name
    for name in TORCH_FREE_PREDICT:
        assert {m for m in heavy(name) if m.split(".")[0] in TORCH} == set(), name


def test_info_on_an_adapter_folder_loads_no_torch():
    folder = ROOT / "geoadapters" / "default" / "sen1floods11-tiny"
    code = (
        "import sys; from geoadapters.cli.main import main; code = main(['info', sys.argv[1]]); "
        f"print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "sen1floods11-tiny" in result.stdout and "HEAVY []" in result.stdout
