"""The panel in a real browser (Debian's headless chromium through chromium-driver): an admin
credits a wallet, overrides an account's limit and changes the base plan; a customer switches
elastic on with a daily cap, asks for a top-up, buys an upgrade and finds no admin's page
(404). Screenshots of each page are kept in build/test-artefacts/panel/ (BUBBLE_TEST_ARTEFACTS
moves them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from glue.catalog import load_catalog
from glue.services.context import Context
from glue.units import parse_money_cents
from tests.support.browser import chromium, log_in, needs_chromium, shots_dir, submit
from tests.support.panel import on_loopback, panel_root, running_panel

pytestmark = [pytest.mark.integration, needs_chromium]


@pytest.fixture
def shots() -> Path:
    return shots_dir()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def test_an_admin_credits_a_wallet_and_a_customer_switches_elastic_on(
    browser: webdriver.Chrome, tmp_path: Path, shots: Path
) -> None:
    root = panel_root(tmp_path, accounts=("alice", "bob"))
    on_loopback(root)  # the mail page asks web1 for the mailboxes: refused at once
    with running_panel(root) as url:
        browser.get(f"{url}/login")
        browser.save_screenshot(str(shots / "login.png"))
        log_in(browser, url, "root")
        assert browser.current_url == f"{url}/admin"
        browser.save_screenshot(str(shots / "admin-dashboard.png"))
        browser.find_element(By.LINK_TEXT, "alice").click()
        browser.find_element(By.ID, "credit-amount").send_keys("25.07")
        submit(browser, browser.find_element(By.ID, "credit"), "?done=")
        assert browser.find_element(By.ID, "balance").text == "125.07"
        assert "credited 25.07" in browser.find_element(By.ID, "done").text
        browser.save_screenshot(str(shots / "admin-account.png"))
        assert Context(root=root).ledger.balance("alice") == 125_07
        # Any account to any limit: an override of alice's CPU.
        browser.find_element(By.CSS_SELECTOR, "form[action$='/limits'] input[name=cpu]").send_keys(
            "2GHz"
        )
        submit(browser, browser.find_element(By.ID, "set-limits"), "?done=")
        assert load_catalog(root).accounts["alice"].overrides.cpu_mhz == 2000
        # The base plan: the preview first (who follows, what it costs), then the change.
        browser.get(f"{url}/admin/plans")
        plan_form = "form[action='/admin/plans/base']"
        browser.find_element(By.CSS_SELECTOR, f"{plan_form} input[name=memory]").send_keys("3GiB")
        submit(
            browser,
            browser.find_element(By.CSS_SELECTOR, f"{plan_form} button"),
            "/admin/plans/base?",
        )
        browser.save_screenshot(str(shots / "admin-plan-preview.png"))
        assert browser.find_element(By.ID, "following").text == "1"  # bob; alice has an override
        submit(browser, browser.find_element(By.ID, "plan-save"), "?done=")
        assert load_catalog(root).plans["base"].base.memory_mib == 3072
        for page in ("accounts", "plans", "servers", "topups", "audit"):
            browser.get(f"{url}/admin/{page}")
            browser.save_screenshot(str(shots / f"admin-{page}.png"))
        assert "credited by root" in browser.find_element(By.ID, "money").text

        log_in(browser, url, "alice")
        assert browser.current_url == f"{url}/account"
        assert browser.find_element(By.ID, "elastic").text == "off"
        browser.find_element(By.ID, "elastic-on").click()
        browser.find_element(By.ID, "max-daily").send_keys("3.00")
        submit(browser, browser.find_element(By.ID, "elastic-save"), "?done=")
        assert browser.find_element(By.ID, "elastic").text == "on"
        browser.save_screenshot(str(shots / "customer-account.png"))
        browser.find_element(By.ID, "topup-amount").send_keys("10.00")
        submit(browser, browser.find_element(By.ID, "topup"), "?done=")
        assert "with the reference BH-" in browser.find_element(By.ID, "done").text
        # A permanent upgrade: the price shown first, then paid from the wallet to the cent.
        before = Context(root=root).ledger.balance("alice")
        upgrade_form = "form[action='/account/upgrade']"
        browser.find_element(By.CSS_SELECTOR, f"{upgrade_form} input[name=disk]").send_keys(
            "+10GiB"
        )
        submit(
            browser,
            browser.find_element(By.CSS_SELECTOR, f"{upgrade_form} button"),
            "/account/upgrade?",
        )
        fee = parse_money_cents(browser.find_element(By.ID, "fee").text)
        browser.save_screenshot(str(shots / "customer-upgrade.png"))
        submit(browser, browser.find_element(By.ID, "buy"), "?done=")
        assert fee > 0 and Context(root=root).ledger.balance("alice") == before - fee
        browser.find_element(By.ID, "usage-graphs").click()
        browser.save_screenshot(str(shots / "customer-usage.png"))
        browser.get(f"{url}/account/mail")
        browser.save_screenshot(str(shots / "customer-mail.png"))
        account = load_catalog(root).accounts["alice"]
        assert account.elastic is True and account.max_daily == 300
        # Another account's page, asked for by the customer: not found, nothing of bob shown.
        browser.get(f"{url}/admin/accounts/bob")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
        # From the source: find_elements would wait out the implicit 5 s for what is not there.
        assert 'id="balance"' not in browser.page_source and "bob" not in browser.page_source
        browser.save_screenshot(str(shots / "customer-refused.png"))
