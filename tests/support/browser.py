"""The panel in a real browser: Debian's headless chromium through chromium-driver (selenium),
logging in, waiting for a form's next page, and where screenshots are kept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.support.panel import PASSWORD

needs_chromium = pytest.mark.skipif(not shutil.which("chromedriver"),
                                    reason="needs chromium-driver")  # fmt: skip


def shots_dir() -> Path:
    """Where the screenshots stay after the run (a test's tmp_path would not keep them)."""
    top = Path(os.environ.get("BUBBLE_TEST_ARTEFACTS", Path(__file__).parents[2] / "build"))
    where = top / "test-artefacts" / "panel"
    where.mkdir(parents=True, exist_ok=True)
    return where


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):  # fmt: skip
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "chromium"
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(browser: webdriver.Chrome, url: str, name: str, password: str = PASSWORD) -> None:
    browser.delete_all_cookies()
    browser.get(f"{url}/login")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(password)
    submit(browser, browser.find_element(By.ID, "login"), "/login", away=True)


def submit(
    browser: webdriver.Chrome, button: WebElement, part: str, away: bool = False, wait: float = 10
) -> None:
    """Click a form's button and wait for the page it leads to (`part` in its URL, or gone from it).

    The old page must go stale first: after one "?done=" page, the URL alone would already match
    the next one and the test would read elements of a page being replaced."""
    old_page = browser.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(browser, wait).until(lambda _: gone(old_page))
    WebDriverWait(browser, wait).until(lambda d: (part in d.current_url) != away)


def gone(element: WebElement) -> bool:
    """Whether the element has left the document. Selenium's `staleness_of` knows only the stale
    reference error; while chromium swaps the page it can also answer "Node with given id does not
    belong to the document" (CI, stop 25), which says the same thing."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in (error.msg or ""):
            return True
        raise
    return False
