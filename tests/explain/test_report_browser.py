"""report.html rendered in headless Chromium: every <img> loads and the page
requests nothing but itself and its data: URIs; and the same check catches
a corrupted picture and a page that reaches out.

Needs Debian's ``chromium`` and ``chromium-driver`` (/usr/bin/chromium,
/usr/bin/chromedriver; scripts/setup.sh installs them) and selenium (the
``test`` extra, ≥ 4.20). Without them the tests FAIL, saying what to install;
``BRAINNET_SKIP_BROWSER=1`` skips them on purpose. Selenium is given both
paths, so its Selenium Manager never runs and nothing is downloaded (the
fixture makes sure: Selenium Manager raises if called).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from brainnet.explain import write_report

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
LOAD_SECONDS = 30


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if os.environ.get("BRAINNET_SKIP_BROWSER") == "1":
        pytest.skip("BRAINNET_SKIP_BROWSER=1: the report is not rendered in a browser")
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver (as "
                    "scripts/setup.sh does), or set BRAINNET_SKIP_BROWSER=1 to skip the browser tests")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # the page's network events

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Selenium Manager ran: it would look for (and download) a browser or driver")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SeleniumManager, "binary_paths", no_download)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def page_problems(driver: Any, path: Path) -> tuple[int, list[str]]:
    """Opens ``path`` in the browser; returns the number of <img> elements and
    the problems: an image not loaded (not complete, or naturalWidth 0), a
    request for anything but the page itself and data: URIs, an element
    pointing elsewhere (src, href)."""
    driver.get("about:blank")
    driver.get_log("performance")  # drop the events before the page (the browser's own start page)
    page = path.resolve().as_uri()
    driver.set_page_load_timeout(LOAD_SECONDS)
    driver.get(page)
    images = driver.execute_script(
        "return Array.from(document.images, i => [i.complete, i.naturalWidth, i.getAttribute('src').slice(0, 60)])"
    )
    problems = [f"image {n} not loaded (complete={complete}, naturalWidth={width}): {src}..."
                for n, (complete, width, src) in enumerate(images) if not complete or width == 0]
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url != page and not url.startswith("data:"):
                problems.append(f"request for {url}")
    pointers = driver.execute_script(
        "return Array.from(document.querySelectorAll('[src], [href]'), e => "
        "e.tagName + ' ' + (e.getAttribute('src') || e.getAttribute('href')).slice(0, 60))")
    problems += [f"element {p} points outside the page" for p in pointers
                 if not p.split(" ", 1)[1].startswith("data:")]
    return len(images), problems


def test_report_renders_offline_with_every_image(browser, trained_cnn, tmp_path: Path) -> None:
    t = trained_cnn
    path = write_report(t.model, t.history, t.x_test, t.y_test, tmp_path / "report.html")
    count, problems = page_problems(browser, path)
    assert problems == []
    assert count == 5  # curves, confusion matrix, errors, saliency, Grad-CAM
    widths = browser.execute_script("return Array.from(document.images, i => i.naturalWidth)")
    assert widths[0] == 1000  # the curves: two panels of 5 inches at 100 dpi


def test_the_check_finds_a_corrupted_image(browser, trained_cnn, tmp_path: Path) -> None:
    t = trained_cnn
    text = write_report(t.model, t.history, t.x_test, t.y_test, tmp_path / "report.html").read_text()
    sources = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    # Still base64, but the first 12 bytes (the PNG signature and the header's length) are zeros.
    # (Damage inside the compressed pixels is not enough: Chromium draws what it can decode.)
    damaged = "A" * 16 + sources[1][16:]
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace(sources[1], damaged))
    count, problems = page_problems(browser, broken)
    assert count == 5 and len(problems) == 1, problems
    assert problems[0].startswith("image 1 not loaded (complete=True, naturalWidth=0)")


def test_the_check_finds_requests_outside_the_page(browser, tmp_path: Path) -> None:
    # 127.0.0.1:9 (the discard port) refuses at once: the requests are made, and fail.
    page = tmp_path / "outside.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="http://127.0.0.1:9/style.css">'
                    '</head><body><img src="http://127.0.0.1:9/picture.png"></body></html>')
    count, problems = page_problems(browser, page)
    assert count == 1
    assert "request for http://127.0.0.1:9/style.css" in problems
    assert "request for http://127.0.0.1:9/picture.png" in problems
    assert any(p.startswith("image 0 not loaded") for p in problems)
    assert "element LINK http://127.0.0.1:9/style.css points outside the page" in problems
