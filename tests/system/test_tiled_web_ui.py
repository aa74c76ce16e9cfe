"""The web UI that the ``tiled`` package ships (``share/tiled/ui``, served under ``/ui/`` by
the station's embedded Tiled), in headless Chromium: logged in with the station's API key,
it lists ``raw``, opens a spectrum's run, its ``primary`` stream and its Z′ array, and shows
that array's values and structure (README, "A served station": the web UI).

The browser is Debian's ``chromium`` driven through Debian's ``chromedriver`` by Selenium
(``.ci/run`` installs both). Selenium is a pure-Python client of the W3C WebDriver protocol
(≈40 MB installed with trio, 20 MB of it selenium-manager binaries that it skips when given a
driver, as here); Playwright's wheel brings a Node.js runtime of its own and expects a browser
build of its own, downloaded, which the station's machines cannot fetch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from acq.runtime.engine import make_run_engine
from plans import eis_sweep

pytestmark = pytest.mark.slow

#: Debian's packages ``chromium`` and ``chromium-driver``.
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Wall seconds the UI gets to show what a click asks for (its scripts, the server's answers).
UI_TIMEOUT_S = 60.0
#: The spectrum's array the test opens: Z′ of each frequency, Ω.
SPECTRUM_FIELD = "pstat_eis_z_real_ohm"
#: React re-renders the grid as its rows arrive: an element found may be replaced, or covered
#: for a moment, before the click lands.
RENDERING = (
    NoSuchElementException,
    StaleElementReferenceException,
    ElementClickInterceptedException,
)


@pytest.fixture(scope="module")
def spectrum_uid(station, station_config, tiled_client) -> str:
    """The uid of an `eis_sweep` run through the station's RunEngine into its Tiled."""
    engine = make_run_engine(station_config, tiled_client)
    (uid,) = engine.RE(eis_sweep(station.potentiostat, points_per_decade=2))
    engine.close()
    return uid


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium, a window of 1400 × 1000 CSS pixels, no cookie yet."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def wait_for(browser: WebDriver, condition: Callable[[WebDriver], object], what: str):
    """What ``condition`` returns once it is truthy, retried while the page renders; else a
    failure saying the page never showed ``what`` (and where the browser was)."""
    return WebDriverWait(browser, UI_TIMEOUT_S, ignored_exceptions=RENDERING).until(
        condition, f"the UI showed no {what} in {UI_TIMEOUT_S:.0f} s (at {browser.current_url})"
    )


def listed(browser: WebDriver) -> list[str]:
    """The node names the Contents grid lists on its page now."""
    rows = browser.find_elements(By.CSS_SELECTOR, "[role=row][data-id]")
    return [row.get_attribute("data-id") for row in rows]


def open_row(browser: WebDriver, node: str) -> None:
    """Click the row of child ``node`` in the Contents grid, turning its pages (ten rows each:
    the session's catalog holds other tests' runs) until it is listed, and wait for the UI to
    browse into it."""
    while node not in (names := wait_for(browser, listed, "Contents")):
        next_page = browser.find_element(By.CSS_SELECTOR, "button[aria-label='Go to next page']")
        assert next_page.is_enabled(), f"the UI does not list {node!r} (its last page: {names})"
        next_page.click()
        wait_for(browser, lambda driver, names=names: listed(driver) not in ([], names), "page")

    def clicked(driver: WebDriver) -> bool:
        driver.find_element(By.CSS_SELECTOR, f"[role=row][data-id='{node}']").click()
        return True

    wait_for(browser, clicked, f"row {node!r} to click")
    wait_for(browser, lambda driver: driver.current_url.endswith(f"/{node}"), f"page of {node!r}")


def shown_gray_levels(browser: WebDriver, n_points: int) -> list[int] | None:
    """The gray level (0–255) of each pixel of the array view's canvas, once it is the image
    of a one-row array of ``n_points`` (one pixel each); None before."""
    return browser.execute_script(
        """const [n] = arguments;
        const canvas = document.querySelector("canvas");
        if (canvas === null || canvas.width !== n || canvas.height !== 1) return null;
        const pixels = canvas.getContext("2d").getImageData(0, 0, n, 1).data;
        return Array.from({length: n}, (_, i) => pixels[4 * i]);""",
        n_points,
    )


def answers_for(browser: WebDriver, url_part: str) -> list[int]:
    """The HTTP status of each answer the page has had from a URL holding ``url_part`` (the
    browser's resource timing entries)."""
    return browser.execute_script(
        """const [part] = arguments;
        return performance.getEntriesByType("resource")
            .filter((entry) => entry.name.includes(part))
            .map((entry) => entry.responseStatus);""",
        url_part,
    )


def test_the_ui_logged_in_with_the_key_shows_a_spectrum_of_a_raw_run(
    browser, spectrum_uid, tiled_server, tiled_client
):
    values_ohm = tiled_client["raw"][spectrum_uid]["primary"][SPECTRUM_FIELD].read()
    (n_points,) = values_ohm.shape[1:]
    browser.get(f"{tiled_server.uri}/ui/?api_key={tiled_server.api_key}")
    for node in ("raw", spectrum_uid, "primary", SPECTRUM_FIELD):
        open_row(browser, node)
    crumbs = browser.find_element(By.CSS_SELECTOR, "nav[aria-label=breadcrumb]").text
    assert crumbs.split("\n/\n") == ["Top", "raw", spectrum_uid, "primary", SPECTRUM_FIELD]
    # The View tab draws the array as an image, Tiled's gray colormap on a linear scale: one
    # pixel per frequency, from black at the smallest Z′ to white at the largest.
    shown = wait_for(
        browser, lambda driver: shown_gray_levels(driver, n_points), f"image of {n_points} points"
    )
    z_ohm = values_ohm[0]
    expected = 255 * (z_ohm - z_ohm.min()) / (z_ohm.max() - z_ohm.min())
    np.testing.assert_allclose(shown, expected, atol=1.0)
    # The Detail tab shows the node as the API serves it: the structure and the descriptor's
    # data key.
    detail_tab = (By.XPATH, "//*[@role='tab'][.='Detail']")
    wait_for(browser, lambda driver: driver.find_element(*detail_tab), "Detail tab").click()
    detail = wait_for(
        browser, lambda driver: driver.find_element(By.CSS_SELECTOR, "pre code"), "detail"
    )
    attributes = json.loads(detail.text)["data"]["attributes"]
    assert attributes["ancestors"] == ["raw", spectrum_uid, "primary"]
    assert attributes["structure"]["shape"] == [1, n_points]
    assert attributes["metadata"]["units"] == "Ohm"


def test_the_ui_without_the_key_lists_no_run(browser, spectrum_uid, tiled_server):
    browser.get(f"{tiled_server.uri}/ui/browse/raw")
    # Once the server has refused the UI the node (no key, no cookie), the UI offers to log
    # in (the server has no login provider: only its key opens it) and lists nothing.
    wait_for(
        browser,
        lambda driver: 401 in answers_for(driver, "/api/v1/metadata/raw?"),
        "refused request for raw",
    )
    wait_for(
        browser, lambda driver: driver.find_element(By.XPATH, "//a[.='Log in']"), "Log in link"
    )
    assert not browser.find_elements(By.CSS_SELECTOR, "[role=row]")
    assert spectrum_uid not in browser.find_element(By.TAG_NAME, "body").text
