"""The chat demo in a real browser: headless Chromium on server A and on server B.

``examples/demo.py --serve`` runs as a user starts it (its own process, free loopback ports,
the test's private Redis). One Chromium from Debian's ``chromium`` package, driven through
Debian's ``/usr/bin/chromedriver`` (Selenium Manager is never asked to download anything),
opens the page on A in one window and on B in another; a message typed in one must show up
in the other with its author, its time and the server it came through. The screenshots are
kept under ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DEMO = [sys.executable, "-u", str(ROOT / "examples" / "demo.py"), "--port-a", "0", "--port-b", "0"]
WAIT = 10.0


def debian_binary(name: str, package: str) -> str:
    """The path of a Debian-packaged binary, or a failure that says how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: run scripts/bootstrap.sh as root (apt-get install {package})"
        )
    return path


@pytest.fixture
def demo(redis_url: str) -> Iterator[tuple[str, str]]:
    """``demo.py --serve`` on free ports; yields the URLs of server A and server B."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": path}
    proc = subprocess.Popen(
        [*DEMO, "--serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    stdout = proc.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        """Keeps the pipe drained and lets the start-up wait below have a deadline."""
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=pump)
    reader.start()
    output = ""
    try:
        deadline = time.monotonic() + 20
        while "Ctrl-C" not in output:
            try:
                output += lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the demo did not start in time:\n{output}")
            assert proc.poll() is None, output
        url_a, url_b = re.findall(r"open (http://\S+)/ and (http://\S+)/", output)[0]
        yield url_a, url_b
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join()  # the pipe is at EOF once the demo has exited
        stdout.close()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    """Headless Chromium through Debian's chromedriver; never a downloaded browser or driver."""
    monkeypatch.setenv("SE_OFFLINE", "true")  # belt and braces: a given driver path skips it
    options = Options()
    options.binary_location = debian_binary("chromium", "chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--window-size=900,640"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=debian_binary("chromedriver", "chromium-driver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class Shown:
    """One chat message as the page shows it."""

    name: str
    time_text: str
    datetime: str
    via: str
    mine: bool


class ChatPage:
    """The chat page in one browser window; every method first switches to that window."""

    def __init__(self, driver: webdriver.Chrome, handle: str, url: str) -> None:
        self.driver, self.handle, self.url = driver, handle, url

    def focus(self) -> webdriver.Chrome:
        self.driver.switch_to.window(self.handle)
        return self.driver

    def wait_connected(self, label: str, stack: str) -> None:
        """Connected and told by the server (an ack) which server it is."""
        want = f"server {label} · {stack}"
        WebDriverWait(self.focus(), WAIT).until(
            lambda d: (
                d.find_element(By.ID, "status").text == want
                and d.find_element(By.ID, "send").is_enabled()
            ),
            f"{self.url} never showed {want!r}",
        )

    def set_name(self, name: str) -> None:
        field = self.focus().find_element(By.ID, "name")
        field.clear()
        field.send_keys(name)

    def say(self, text: str) -> None:
        self.focus().find_element(By.ID, "text").send_keys(text, Keys.ENTER)

    def wait_for(self, text: str) -> Shown:
        """The message with this text, once it is on the page."""

        def find(driver: webdriver.Chrome) -> WebElement | bool:
            for item in driver.find_elements(By.CSS_SELECTOR, "#log li.message"):
                if item.find_element(By.CSS_SELECTOR, ".text").text == text:
                    return item
            return False

        item = WebDriverWait(self.focus(), WAIT).until(find, f"{text!r} never shown on {self.url}")
        assert isinstance(item, WebElement)
        stamp = item.find_element(By.CSS_SELECTOR, "time")
        return Shown(
            name=item.find_element(By.CSS_SELECTOR, ".name").text,
            time_text=stamp.text,
            datetime=stamp.get_attribute("datetime") or "",
            via=item.find_element(By.CSS_SELECTOR, ".via").text,
            mine="mine" in (item.get_attribute("class") or "").split(),
        )

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        assert self.focus().save_screenshot(str(path)), path
        return path


def check_time(shown: Shown) -> None:
    """The server's time stamp: recent, and shown as local HH:MM."""
    stamp = datetime.fromisoformat(shown.datetime.replace("Z", "+00:00"))
    assert abs(time.time() - stamp.timestamp()) < 60, shown
    assert shown.time_text == stamp.astimezone().strftime("%H:%M"), shown


def test_chat_between_two_servers_in_chromium(
    demo: tuple[str, str], browser: webdriver.Chrome, capsys: pytest.CaptureFixture[str]
) -> None:
    url_a, url_b = demo
    browser.get(url_a + "/")
    page_a = ChatPage(browser, browser.current_window_handle, url_a)
    browser.switch_to.new_window("window")
    browser.set_window_size(900, 640)
    browser.get(url_b + "/")
    page_b = ChatPage(browser, browser.current_window_handle, url_b)
    page_a.wait_connected("A", "aiohttp")
    page_b.wait_connected("B", "Uvicorn")
    page_a.set_name("Alice Liddell")
    page_b.set_name("Bob")

    page_a.say("Hello from the aiohttp side!")
    on_b = page_b.wait_for("Hello from the aiohttp side!")
    assert (on_b.name, on_b.via, on_b.mine) == ("Alice Liddell", "via A", False)
    check_time(on_b)
    on_a = page_a.wait_for("Hello from the aiohttp side!")
    assert (on_a.name, on_a.via, on_a.mine) == ("Alice Liddell", "via A", True)
    assert on_a.datetime == on_b.datetime  # one stamp, set by server A

    page_b.say("Hi Alice, Uvicorn here. <b>not bold</b>")
    on_a = page_a.wait_for("Hi Alice, Uvicorn here. <b>not bold</b>")  # text, never HTML
    assert (on_a.name, on_a.via, on_a.mine) == ("Bob", "via B", False)
    check_time(on_a)
    assert page_b.wait_for("Hi Alice, Uvicorn here. <b>not bold</b>").mine

    for page, label in ((page_a, "A"), (page_b, "B")):
        driver = page.focus()
        # Offline-capable: the page loads nothing but itself (the WebSocket is not a resource).
        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert loaded == [], loaded
        shot = page.screenshot(f"chat-{label}.png")
        assert shot.stat().st_size > 10_000
        with capsys.disabled():  # shown even without -s, so a CI log says where it is
            print(f"\nscreenshot of the chat on server {label}: {shot}")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
