"""The demo in headless Chromium: click the bundled example, predict, and find the drawn class map in a
screenshot (its water blue and land colours), with the area table filled in; map the bands of a file
without band descriptions with the page's controls; get the range warning for an 8-bit RGB; download
the prediction and find the class names and the page's colours in it."""

import re
import shutil
import urllib.request
import zipfile
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from demo.pictures import class_colours
from geoadapters.cli.main import main
from tests.demo.conftest import EXAMPLE

webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--window-size=1600,1600")  # fmt: skip


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))  # no driver download
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _share(picture: Image.Image, colour: tuple[int, int, int]) -> float:
    pixels = np.asarray(picture.convert("RGB"), np.int16)
    return float((np.abs(pixels - colour).max(axis=-1) <= 6).mean())


def test_a_prediction_clicked_through_the_page_is_drawn(browser, demo_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(demo_url)
    wait = WebDriverWait(browser, 120)
    example = wait.until(
        ec.element_to_be_clickable(
            (By.XPATH, "//button[contains(@class, 'gallery-item')][contains(., 'Spain_7370579_S2Hand')]")
        )
    )
    example.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "scene"), "Spain_7370579_S2Hand"))
    browser.find_element(By.ID, "predict").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "areas"), "Water"))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#classmap img").get_attribute("src"))
    wait.until(lambda d: d.execute_script("return document.querySelector('#classmap img').complete"))
    browser.save_screenshot(str(tmp_path / "demo.png"))
    page = Image.open(tmp_path / "demo.png")
    class_map = Image.open(BytesIO(browser.find_element(By.CSS_SELECTOR, "#classmap img").screenshot_as_png))
    land, water = class_colours(["not water", "water"])
    # the bundled chip is ~25 % water (the area table): both colours fill the drawn class map
    assert 0.15 < _share(class_map, water) < 0.40
    assert 0.50 < _share(class_map, land) < 0.85
    assert _share(page, water) > 0.01  # and the page screenshot shows it
    areas = browser.find_element(By.ID, "areas").text
    assert "Not water" in areas and "km²" in areas
    assert "tiles predicted in" in browser.find_element(By.CSS_SELECTOR, "#timing textarea").get_attribute(
        "value"
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#legend .swatch")


def _example_bands(path, numbers, to_8_bit=False):
    """The example's bands `numbers` as a file without band descriptions (8-bit: stretched to 0..255)."""
    import rasterio

    with rasterio.open(EXAMPLE) as src:
        profile = src.profile | {"count": len(numbers)}
        data = src.read(numbers)
    if to_8_bit:
        profile |= {"dtype": "uint8", "nodata": None}
        data = np.clip(data / 3000 * 255, 0, 255).astype("uint8")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _upload_and_map(browser, path, picks):
    """Upload `path`, wait for the band mapping, and pick ``band N`` for each ``{control: N}``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#scene input[type=file]")).send_keys(str(path))
    wait.until(ec.visibility_of_element_located((By.ID, "band-0")))
    for control, number in picks.items():
        box = browser.find_element(By.CSS_SELECTOR, f"#band-{control} input")
        box.click()
        option = f"#{box.get_attribute('aria-controls')} li[aria-label='band {number}']"
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, option))).click()
        wait.until(lambda d, c=control, n=number: _picked(d, c) == f"band {n}")
    return wait


def _picked(browser, control):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f"#band-{control} input").get_attribute("value")


def test_a_file_without_band_descriptions_is_mapped_and_predicted(browser, demo_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    four = _example_bands(tmp_path / "four.tif", [2, 3, 4, 9])  # blue, green, red, NIR
    browser.get(demo_url)
    wait = _upload_and_map(browser, four, {4: 4, 5: 4})  # SWIR 1 and 2: the file has none; NIR stands in
    about = browser.find_element(By.ID, "about").text
    assert "4 int16 bands" in about and "blue, green, red, NIR band order" in about
    # proposed from the band count: blue, green, red, and NIR (B08) for NIR_NARROW
    assert [_picked(browser, c) for c in range(6)] == ["band 1", "band 2", "band 3", *["band 4"] * 3]
    browser.find_element(By.ID, "predict").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "areas"), "Water"))
    # the download: the class map the command line writes with the same mapping as --bands
    link = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#download a")).get_attribute("href")
    (tmp_path / "download.zip").write_bytes(urllib.request.urlopen(link, timeout=30).read())
    cli = tmp_path / "cli.tif"
    assert main(["predict", str(four), "--bands", "1,2,3,4,4,4", "-o", str(cli)]) == 0
    import rasterio

    inside = f"/vsizip/{tmp_path / 'download.zip'}/four_pred.tif"
    with rasterio.open(inside) as ours, rasterio.open(cli) as cmd:
        np.testing.assert_array_equal(ours.read(), cmd.read())
        colours = [ours.colormap(1)[value][:3] for value in (0, 1)]
    with zipfile.ZipFile(tmp_path / "download.zip") as zipped:
        aux = zipped.read("four_pred.tif.aux.xml").decode()
    assert "<Category>Not water</Category>" in aux and "<Category>Water</Category>" in aux
    # the file's colours are the page's: its legend swatches
    legend = browser.find_element(By.ID, "legend").get_attribute("innerHTML")
    shown = [tuple(map(int, rgb)) for rgb in re.findall(r"rgb\((\d+), (\d+), (\d+)\)", legend)]
    assert shown == colours == class_colours(["Not water", "Water"])


def test_an_8_bit_rgb_gets_the_range_warning(browser, demo_url, tmp_path):
    from selenium.webdriver.common.by import By

    rgb = _example_bands(tmp_path / "photo.tif", [4, 3, 2], to_8_bit=True)
    browser.get(demo_url)
    wait = _upload_and_map(browser, rgb, {3: 1, 4: 1, 5: 1})
    assert [_picked(browser, c) for c in range(3)] == ["band 3", "band 2", "band 1"]  # RGB order
    browser.find_element(By.ID, "predict").click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#notes textarea").get_attribute("value"))
    notes = browser.find_element(By.CSS_SELECTOR, "#notes textarea").get_attribute("value")
    assert notes.startswith("photo.tif: its values reach")
    assert "the Band mapping" in notes and "the Value scale box" in notes and "--scale" not in notes
