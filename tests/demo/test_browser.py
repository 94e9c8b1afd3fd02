"""The demo in headless Chromium: click the bundled example, predict, and find the drawn class map in a
screenshot (its water blue and land colours), with the area table filled in."""

import shutil
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from demo.pictures import class_colours

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
