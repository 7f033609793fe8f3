"""The panel in a real browser (Debian's headless chromium through chromium-driver): an
admin credits a wallet in its form and sees the new balance; a customer switches elastic on
with a daily cap. Screenshots of each page land in the test's directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from glue.catalog import load_catalog
from glue.services.context import Context
from tests.support.panel import PASSWORD, panel_root, running_panel

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("chromedriver"), reason="needs chromium-driver"),
]


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
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


def log_in(browser: webdriver.Chrome, url: str, name: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{url}/login")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    arrived(browser, "/login", away=True)


def arrived(browser: webdriver.Chrome, part: str, away: bool = False) -> None:
    """Wait for the page a form submission leads to (`part` in its URL, or gone from it)."""
    WebDriverWait(browser, 10).until(lambda d: (part in d.current_url) != away)


def test_an_admin_credits_a_wallet_and_a_customer_switches_elastic_on(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    root = panel_root(tmp_path, accounts=("alice",))
    with running_panel(root) as url:
        log_in(browser, url, "root")
        assert browser.current_url == f"{url}/admin"
        browser.save_screenshot(str(tmp_path / "admin-dashboard.png"))
        browser.find_element(By.LINK_TEXT, "alice").click()
        browser.find_element(By.ID, "credit-amount").send_keys("25.07")
        browser.find_element(By.ID, "credit").click()
        arrived(browser, "?done=")
        assert browser.find_element(By.ID, "balance").text == "125.07"
        assert "credited 25.07" in browser.find_element(By.ID, "done").text
        browser.save_screenshot(str(tmp_path / "admin-account.png"))
        assert Context(root=root).ledger.balance("alice") == 125_07
        for page in ("plans", "servers", "audit"):
            browser.get(f"{url}/admin/{page}")
            browser.save_screenshot(str(tmp_path / f"admin-{page}.png"))
        assert "credited by root" in browser.find_element(By.ID, "money").text

        log_in(browser, url, "alice")
        assert browser.current_url == f"{url}/account"
        assert browser.find_element(By.ID, "elastic").text == "off"
        browser.find_element(By.ID, "elastic-on").click()
        browser.find_element(By.ID, "max-daily").send_keys("3.00")
        browser.find_element(By.ID, "elastic-save").click()
        arrived(browser, "?done=")
        assert browser.find_element(By.ID, "elastic").text == "on"
        browser.save_screenshot(str(tmp_path / "customer-account.png"))
        browser.find_element(By.ID, "topup-amount").send_keys("10.00")
        browser.find_element(By.ID, "topup").click()
        arrived(browser, "?done=")
        assert "with the reference BH-" in browser.find_element(By.ID, "done").text
        browser.find_element(By.ID, "usage-graphs").click()
        browser.save_screenshot(str(tmp_path / "customer-usage.png"))
        account = load_catalog(root).accounts["alice"]
        assert account.elastic is True and account.max_daily == 300
