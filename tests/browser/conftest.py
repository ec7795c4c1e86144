"""A real headless Chromium driving the app, served over HTTP on 127.0.0.1 from a server thread.

Chromium and its driver are Debian's (`chromium`, `chromium-driver`): selenium is given both
paths, so it never runs Selenium Manager, which would download them. One browser serves every
test of a worker; each test gets it with no cookies, no emulation and a blank page.

Screenshots a test saves, and one of the page whenever a browser test fails, go to
`var/test-artifacts/` (git-ignored, kept after the run) for a person to look at.
"""

from __future__ import annotations

import base64
import contextlib
import re
import shutil
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.contrib.auth.models import User
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

T = TypeVar("T")

# Without the background-networking flags Chromium reaches for the internet on its own; the
# resolver rule makes any name but the test server's fail at once instead of leaving the machine.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1280,900",
)
# Every wait is bounded. A poll comes every 2 s (levels) or 3 s (trades): two of them fit.
WAIT_S = 8.0
PAGE_LOAD_S = 15.0

STAFF_USERNAME = "trader"
STAFF_PASSWORD = "s3cret-pass"

# Set before an action, read after it: still there means htmx swapped, nothing reloaded.
NOT_RELOADED = "not reloaded"
MARK_PAGE = f"window.levelbotMarker = '{NOT_RELOADED}';"
PAGE_MARK = "return window.levelbotMarker === undefined ? null : window.levelbotMarker;"

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def artifact_path(name: str) -> Path:
    """A file in the artifacts folder, which is made if need be; `name` is made file-safe."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def _app_itself(app: T) -> T:
    return app


@pytest.fixture
def live_server(_static_files_without_collectstatic: None) -> Iterator[LiveServer]:
    """The app in a server thread on 127.0.0.1 and a free port, static files from whitenoise.

    It overrides pytest-django's fixture by name and keeps its helper: a test that uses it gets a
    transactional database, which the server thread shares, and the host in ALLOWED_HOSTS. Unlike
    it, this one binds 127.0.0.1 rather than whatever `localhost` resolves to, and leaves static
    files to the app's whitenoise rather than Django's test handler. The app is built when the
    server starts, so it starts for each test, after the root conftest has set whitenoise to find
    files where they are, without `collectstatic`; starting it takes milliseconds.
    """
    server = LiveServer("127.0.0.1", start=False)
    server.thread.static_handler = _app_itself
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    service = webdriver.ChromeService(
        executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver"
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(PAGE_LOAD_S)
    driver.set_script_timeout(WAIT_S)
    yield driver
    driver.quit()


class Browser:
    """The driver, the test server's address, and bounded waits that say what they waited for."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)
        self.wait_for(
            lambda: self.driver.execute_script("return document.readyState") == "complete",
            f"{path} to load",
        )

    def wait_for(self, condition: Callable[[], T], what: str, timeout: float = WAIT_S) -> T:
        """`condition()` once it is truthy; elements replaced by a poll meanwhile are retried."""
        wait = WebDriverWait(
            self.driver,
            timeout,
            poll_frequency=0.1,
            ignored_exceptions=[StaleElementReferenceException],
        )
        return wait.until(lambda _: condition(), f"waited {timeout} s for {what}")

    def text(self, selector: str, by: str = By.CSS_SELECTOR) -> str:
        """The element's visible text; raises if it is not on the page (a wait retries that)."""
        text: str = self.driver.find_element(by, selector).text
        return text

    def click(self, selector: str, by: str = By.CSS_SELECTOR) -> None:
        """Click the element, found again if a poll swapped it out between find and click."""

        def clicked() -> bool:
            self.driver.find_element(by, selector).click()
            return True

        self.wait_for(clicked, f"{selector} to be clicked")

    def fill(self, values: dict[str, str]) -> None:
        """Type into inputs by id, replacing what is there."""
        for element_id, value in values.items():
            field = self.driver.find_element(By.ID, element_id)
            field.clear()
            field.send_keys(value)

    def texts(self, css: str) -> list[str]:
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def mark_page(self) -> None:
        self.script(MARK_PAGE)

    def page_mark(self) -> str | None:
        mark: str | None = self.script(PAGE_MARK)
        return mark

    def log_in(self, username: str, password: str, next_path: str = "/") -> None:
        self.open(f"/accounts/login/?next={next_path}")
        self.fill({"id_username": username, "id_password": password})
        self.click("form.stacked button[type=submit]")
        self.wait_for(
            lambda: self.driver.current_url == self.base_url + next_path,
            f"the login to lead to {next_path}",
        )

    def screenshot(self, name: str) -> Path:
        """The whole page, beyond the window too, as `var/test-artifacts/NAME.png`."""
        path = artifact_path(f"{name}.png")
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def reset(self) -> None:
        """A blank page first, so no poll reaches the server while the database is emptied."""
        with contextlib.suppress(NoAlertPresentException):  # left open by a failed test
            self.driver.switch_to.alert.dismiss()
        self.driver.get("about:blank")
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture
def browser(chromium: WebDriver, live_server: LiveServer) -> Iterator[Browser]:
    browser = Browser(chromium, live_server.url)
    browser.reset()
    yield browser
    browser.reset()


@pytest.fixture
def staff_user(transactional_db: None) -> User:
    return User.objects.create_user(STAFF_USERNAME, password=STAFF_PASSWORD, is_staff=True)


@pytest.fixture
def signed_in(browser: Browser, staff_user: User) -> Browser:
    """The browser after the staff user logged in through the login page."""
    browser.log_in(STAFF_USERNAME, STAFF_PASSWORD)
    return browser


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed browser test leaves a screenshot of the page it was on, before the browser is
    reset, as `var/test-artifacts/failed-TEST.png`; the report says where."""
    report = yield
    if report.failed and report.when in {"setup", "call"}:
        funcargs = getattr(item, "funcargs", {})
        browser = next((v for v in funcargs.values() if isinstance(v, Browser)), None)
        if browser is not None:
            try:
                path = browser.screenshot(f"failed-{item.nodeid.removeprefix('tests/browser/')}")
            except WebDriverException as e:  # an open dialog, a dead driver: say so, go on
                report.sections.append(("failure screenshot", f"not taken: {e.msg}"))
            else:
                report.sections.append(("failure screenshot", str(path)))
    return report
