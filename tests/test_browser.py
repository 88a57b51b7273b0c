"""JupyterLab in a real browser: run the sampling notebook, move a slider, see the figure change.

JupyterLab starts from this environment on 127.0.0.1 (a free port, a token, HYPERLIB_SCALE=smoke),
serving a temporary copy of notebooks/03_sampling.ipynb with its own config and runtime folders, so
nothing is written into the repository. Headless Debian Chromium, driven by Playwright (which
downloads no browser here), opens the notebook, runs all cells from the Run menu, moves the 2-D
sampling widget's mu_x slider with the keyboard and checks that the widget's figure changed.
Screenshots are saved in runs/browser/ (git-ignored). `make test` installs Chromium; without it
this test fails rather than skips.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "03_sampling.ipynb"
CHROMIUM = Path(os.environ.get("HYPERLIB_CHROMIUM", "/usr/bin/chromium"))
# the network is closed: keep Chromium from calling home (each refused call costs time and log)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "runs" / "browser"
QUIET_LAB = {"fetchNews": "false", "checkForUpdates": False}  # no news or update toasts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, token: str, method: str = "GET") -> int:
    headers = {"Authorization": f"token {token}"}
    request = urllib.request.Request(url, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def _wait_until_up(server: subprocess.Popen, url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if _api(f"{url}/api/status", token) == 200:
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within 90 s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen, url: str, token: str) -> None:
    """Shut the server down (it stops its kernels), then end its process group for sure."""
    try:
        _api(f"{url}/api/shutdown", token, method="POST")
        server.wait(timeout=20)
    except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
        pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab on a temporary copy of the sampling notebook; yields the notebook's URL."""
    home = tmp_path_factory.mktemp("lab")
    (home / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, home / "notebooks" / NOTEBOOK)
    settings = home / "config/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps(QUIET_LAB))
    port, token = _free_port(), secrets.token_hex(16)
    env = os.environ | {
        "HYPERLIB_SCALE": "smoke",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home / 'notebooks'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "jupyterlab.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_up(server, url, token, log)
        yield f"{url}/lab/tree/{NOTEBOOK}?token={token}"
    finally:
        _stop(server, url, token)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    """A page of headless Debian Chromium with a fresh profile; a last screenshot at the end."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make test` installs it (Debian's chromium)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
            # its crash-report and dconf folders go to the temporary folder too, not to $HOME
            env=os.environ | {"XDG_CONFIG_HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)},
        )
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            if browser.pages:
                browser.pages[0].screenshot(path=ARTIFACTS / "last.png")
            browser.close()


def test_moving_a_slider_redraws_the_sampling_widget(lab: str, page: Page) -> None:
    page.goto(lab)
    idle = page.get_by_text("Python 3 (ipykernel) | Idle")
    expect(idle, "the kernel did not start").to_be_visible(timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook is the current document
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    # the notebook's first widget: samples_2d, sliders above the figure (an ipywidgets.Image)
    widget = page.locator(".widget-vbox").filter(has=page.locator("img.widget-image")).first
    figure = widget.locator("img.widget-image")
    expect(figure).to_be_visible(timeout=90_000)
    expect(page.locator(".jp-InputArea-prompt", has_text="[*]")).to_have_count(0, timeout=90_000)
    scale = page.get_by_text("scale: smoke")
    expect(scale, "HYPERLIB_SCALE=smoke did not reach the kernel").to_have_count(1)
    slider = widget.locator(".widget-slider", has_text="mu_x")
    expect(slider.locator(".widget-readout")).to_have_text("5.30", timeout=10_000)
    widget.scroll_into_view_if_needed()
    before_src, before = figure.get_attribute("src"), figure.screenshot()
    widget.screenshot(path=ARTIFACTS / "sampling_widget_before.png")

    slider.locator(".noUi-handle").focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(slider.locator(".widget-readout")).to_have_text("5.80", timeout=10_000)
    unchanged = "the slider moved from 5.30 to 5.80 but the widget's figure did not change"
    expect(figure, unchanged).not_to_have_attribute(
        "src", before_src or "", timeout=30_000
    )
    expect(idle).to_be_visible(timeout=30_000)  # the kernel has drawn every step
    after = figure.screenshot()
    widget.screenshot(path=ARTIFACTS / "sampling_widget_after.png")
    print(f"screenshots in {ARTIFACTS}")
    assert after != before, unchanged
