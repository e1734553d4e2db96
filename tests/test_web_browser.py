"""The web interface in a real browser: headless Chromium (Debian's
``chromium`` and ``chromium-driver``) driving ``codeimport web`` as a
real process.

An operator signs in, finds the FAILING import, opens it, sees its chart
and its log, presses "Try again" and sees the new job.  A screenshot of
the import page is kept in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from webhelpers import PASSWORDS

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module")
def web_url(codeimport_database, tmp_path_factory):
    """``codeimport web`` on a free port of 127.0.0.1; its base URL."""
    log_path = tmp_path_factory.mktemp("web") / "web.log"
    env = dict(os.environ)
    env["CODEIMPORT_WEB_CREDENTIALS"] = ",".join(
        f"{name}:{secret}" for name, secret in PASSWORDS.items())
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", "web", "--dsn",
             codeimport_database.dsn, "--bind", "127.0.0.1:0",
             "--workers", "1", "--threads", "4"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env)
    try:
        url = _wait_until_serving(process, log_path)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(process, log_path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("codeimport web exited:\n"
                               + log_path.read_text())
        match = _LISTENING.search(log_path.read_text())
        if match:
            url = f"http://127.0.0.1:{match.group(1)}"
            try:
                with urllib.request.urlopen(url + "/login", timeout=2):
                    return url
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("codeimport web did not start:\n"
                       + log_path.read_text())


@pytest.fixture(scope="module")
def browser():
    for program in (CHROMIUM, CHROMEDRIVER):
        if not os.access(program, os.X_OK):
            pytest.fail(f"{program} is missing: install the Debian packages "
                        "chromium and chromium-driver", pytrace=False)
    profile = tempfile.mkdtemp(prefix="codeimport-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,1800",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        subprocess.run(["rm", "-rf", profile], check=False)


def follow(browser, element):
    """Click `element` and wait until the page it leads to has replaced it.

    A click that submits a form or follows a link returns before the new
    page is loaded; looking for the next element at once could find it
    on the old page, or miss it.
    """
    element.click()
    WebDriverWait(browser, 60).until(expected_conditions.staleness_of(element))
    WebDriverWait(browser, 60).until(
        lambda driver: driver.execute_script(
            "return document.readyState") == "complete")


def test_operator_tries_a_failing_import_again(world, web_url, browser):
    browser.delete_all_cookies()
    browser.get(web_url + "/")
    follow(browser, browser.find_element(By.ID, "sign-in"))
    browser.find_element(By.ID, "name").send_keys("victor")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["victor"])
    follow(browser, browser.find_element(By.ID, "sign-in-button"))
    assert browser.find_element(By.ID, "signed-in-as").text == "victor"

    follow(browser, browser.find_element(By.ID, "filter-failing"))
    links = browser.find_elements(By.CSS_SELECTOR, "#imports a.import-link")
    assert [a.text for a in links] == ["~alice/hello/trunk"]
    follow(browser, links[0])

    assert browser.find_element(By.ID, "import-name").text == (
        "~alice/hello/trunk")
    assert browser.find_element(By.ID, "review-status").text == "FAILING"
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart rect.bar")
    assert len(bars) == 3
    assert all(bar.size["height"] > 0 for bar in bars)
    assert "failure" in bars[-1].get_attribute("class")
    events = browser.find_element(By.ID, "events").text
    assert "MODIFY" in events and "CREATE" in events
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "web-import-page.png"))

    page = browser.current_url
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.full-log"))
    assert browser.find_element(By.TAG_NAME, "pre").text == (
        "cloning...\nfatal: gone")
    browser.get(page)

    follow(browser, browser.find_element(By.ID, "try-again"))
    assert browser.find_element(By.CSS_SELECTOR, ".flash").text == (
        "The import will be tried again.")
    assert browser.find_element(By.ID, "review-status").text == "REVIEWED"
    assert browser.find_element(By.ID, "job-state").text == "PENDING"
    job_id = int(browser.find_element(By.ID, "job-id").text)
    assert job_id > 0
    assert browser.find_elements(By.ID, "try-again") == []
    assert browser.find_element(By.CSS_SELECTOR, "#events tbody tr").text \
        .split()[2] == "REQUEST"
