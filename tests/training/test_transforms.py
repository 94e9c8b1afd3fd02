import numpy as np
import rasterio
import torch

from tests.training import layouts
from training.datamodule import GeoDataModule
from training.transforms import D4


def test_d4_has_eight_distinct_elements_equal_to_numpy_flips_and_rotations():
    x = torch.arange(20.0).reshape(4, 5)
    results = [D4.apply(x, k).numpy() for k in range(8)]
    reference = [np.rot90(x.numpy(), k) for k in range(4)] + [
        np.rot90(np.fliplr(x.numpy()), k) for k in range(4)
    ]
    for got, expected in zip(results, reference, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert len({r.tobytes() + bytes(r.shape) for r in results}) == 8


def test_d4_moves_image_and_mask_together_and_draws_all_elements():
    torch.manual_seed(0)
    image = torch.rand(3, 8, 8)
    mask = (image[0] * 5).long()  # a function of the image, pixel by pixel
    seen = set()
    for _ in range(100):
        out = D4()({"image": image, "mask": mask})
        assert torch.equal(out["mask"], (out["image"][0] * 5).long())
        seen.add(out["image"].numpy().tobytes())
    assert len(seen) == 8


def test_d4_augments_train_only(sen1floods11):
    root, splits = sen1floods11
    dm = GeoDataModule("sen1floods11", root, splits=splits, bands=["BLUE"], batch_size=1)
    dm.setup("fit")
    dm.setup("test")
    with rasterio.open(layouts.S2_CHIP) as src:
        spain = torch.from_numpy(src.read([2]).astype(np.float32) * np.float32(0.0001))
    for seed in range(4):  # val and test read the files as stored, whatever the seed
        torch.manual_seed(seed)
        assert torch.equal(dm.datasets["test"][0]["image"], spain)
        val = dm.datasets["val"][0]
        assert torch.equal(val["image"], dm.datasets["val"][0]["image"])
    train = dm.datasets["train"]
    draws = set()
    for seed in range(12):
        torch.manual_seed(seed)
        draws.add(train[0]["image"].numpy().tobytes())
    assert len(draws) > 4
