"""`ResidentAdapters`: adapters by reference within a memory budget, least recently used dropped first."""

import threading

import pytest
import torch

from geoadapters.errors import ResourceError
from geoadapters.resident import ResidentAdapters
from tests.conftest import TEST_BASE, perturbed_model


@pytest.fixture(scope="module")
def folders(tmp_path_factory, checkpoint):
    root = tmp_path_factory.mktemp("adapters")
    methods = ("lora", "vpt", "linear_probe")
    return [perturbed_model(m, "linear", checkpoint).save_pretrained(root / m) for m in methods]


def test_the_least_recently_used_adapter_goes_when_the_budget_is_full(folders, checkpoint, chip):
    probe = ResidentAdapters(10, checkpoint={TEST_BASE: checkpoint})
    sizes = []
    for folder in folders:
        probe.get(str(folder), TEST_BASE)
        sizes.append(probe.resident()[-1].bytes)
    base = probe.used - sum(sizes)
    budget = base + sizes[0] + sizes[1] + sizes[2] // 2  # room for the base and two of the three
    resident = ResidentAdapters(budget / 2**30, checkpoint={TEST_BASE: checkpoint})
    first = resident.get(str(folders[0]), TEST_BASE)
    resident.get(str(folders[1]), TEST_BASE)
    assert resident.get(str(folders[0]), TEST_BASE) is first  # resident: the same model, now the most recent
    resident.get(str(folders[2]), TEST_BASE)  # over the budget: folders[1], the least recently used, goes
    kept = [r.reference for r in resident.resident()]
    assert len(kept) == 2 and str(folders[1].resolve()) not in " ".join(kept)
    assert resident.used <= resident.budget
    x = chip[0][:1] * 1.0
    with torch.no_grad():
        assert torch.equal(
            first(first.normalize(x)), resident.get(str(folders[0]), TEST_BASE)(first.normalize(x))
        )


def test_concurrent_loads_keep_one_model_per_adapter_and_a_base_alone_over_the_budget_is_refused(
    folders, checkpoint
):
    resident = ResidentAdapters(1, checkpoint={TEST_BASE: checkpoint})
    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(resident.get(str(folders[0]), TEST_BASE)))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(model) for model in got}) == 1 and len(resident.resident()) == 1
    tiny = ResidentAdapters(1e-6, checkpoint={TEST_BASE: checkpoint})
    with pytest.raises(ResourceError, match="over the budget"):
        tiny.get(str(folders[0]), TEST_BASE)
    assert tiny.resident() == [] and tiny.used == 0


def test_a_full_fine_tune_is_resident_on_its_own_and_predicts_as_load_does(tmp_path, folders, checkpoint):
    from geoadapters import DEFAULT_ADAPTER, load
    from geoadapters.inference.predict import predict_raster
    from geoadapters.inference.runners import make_runner
    from tests.conftest import S2_CHIP

    resident = ResidentAdapters(10, checkpoint={TEST_BASE: checkpoint})
    report = resident.predict(DEFAULT_ADAPTER, S2_CHIP, tmp_path / "resident.tif")  # the bundled: full
    expected = predict_raster(S2_CHIP, tmp_path / "load.tif", make_runner(load(DEFAULT_ADAPTER)))
    import rasterio

    with rasterio.open(report.output) as ours, rasterio.open(expected.output) as theirs:
        assert (ours.read() == theirs.read()).all()
    whole = resident.resident()[0].bytes
    assert resident.used == whole  # counted whole: no shared base
    # a budget for either alone, not both: the full fine-tune, least recently used, is dropped
    resident.get(str(folders[0]), TEST_BASE)
    other = resident.used - whole  # the test base and the adapter
    small = ResidentAdapters((max(whole, other) + 1) / 2**30, checkpoint={TEST_BASE: checkpoint})
    small.get(DEFAULT_ADAPTER)
    small.get(str(folders[0]), TEST_BASE)
    assert [r.base for r in small.resident()] == [TEST_BASE] and small.used == other
