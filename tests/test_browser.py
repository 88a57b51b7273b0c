"""The course in a real browser: JupyterLab runs the sampling notebook and a slider redraws its
figure; the static site reads with the network blocked (formulas typeset, the API reference whole).

JupyterLab starts from this environment on 127.0.0.1 (a free port, a token, HYPERLIB_SCALE=smoke),
serving a temporary copy of notebooks/03_sampling.ipynb with its own config and runtime folders, so
nothing is written into the repository. Headless Debian Chromium, driven by Playwright (which
downloads no browser here), opens the notebook, runs all cells from the Run menu, moves the 2-D
sampling widget's mu_x slider with the keyboard and checks that the widget's figure changed.
The site (`make site`) is built into a temporary folder and opened from disk with every request
that is not a local file aborted (and recorded: there must be none).
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


# --------------------------------------------------------------------------- the static site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole site, as `make site` builds it, in a temporary folder."""
    from hyperlib.classroom import build_site

    out = tmp_path_factory.mktemp("site")
    build_site(sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), out, ROOT / "README.md")
    return out


def _offline(page: Page) -> list[str]:
    """Abort every request that is not a local file; returns the list of those aborted."""
    blocked: list[str] = []

    def route(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return blocked


RAW_DOLLARS = """() => {  // '$' signs left in the rendered markdown's text, outside code
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    let count = 0;
    for (let node; (node = walker.nextNode()); ) {
        const parent = node.parentElement;
        const prose = parent.closest('.jp-RenderedMarkdown');
        if (!prose || parent.closest('code, pre, script')) continue;
        count += (node.textContent.match(/\\$/g) || []).length;
    }
    return count;
}"""


def test_the_site_typesets_formulas_without_the_network(site: Path, page: Page) -> None:
    blocked = _offline(page)
    page.goto((site / "02_continuous_indices.html").as_uri())
    typeset = page.locator("span.MathJax")  # MathJax 2's HTML-CSS output, one per formula
    page.wait_for_function(
        "() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"
        " && document.querySelectorAll('span.MathJax').length > 0", timeout=60_000
    )
    page.wait_for_function(f"({RAW_DOLLARS})() === 0", timeout=30_000)
    assert typeset.count() > 100, f"only {typeset.count()} formulas typeset"
    assert page.locator(".MathJax_Error, .merror").count() == 0, "a formula failed to typeset"
    page.screenshot(path=ARTIFACTS / "site_02.png")
    assert blocked == [], f"the page asked the network for {blocked}"


def test_the_site_links_a_reference_of_every_public_name(site: Path, page: Page) -> None:
    import inspect
    import pkgutil

    import hyperlib

    blocked = _offline(page)
    page.goto((site / "index.html").as_uri())
    page.get_by_role("link", name="API reference").click()
    expect(page.locator("h1, .modulename").first).to_contain_text("hyperlib")
    ids = set(page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)"))
    missing = [name for name in hyperlib.__all__ if name not in ids and name != "__version__"]
    assert missing == [], f"hyperlib.{missing} not on the reference's front page"
    for info in pkgutil.walk_packages(hyperlib.__path__, "hyperlib."):
        module = __import__(info.name, fromlist=["_"])
        names = getattr(module, "__all__", None) or [
            name for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == info.name
            and (inspect.isclass(value) or inspect.isfunction(value))
        ]
        path = site / "reference" / (info.name.replace(".", "/") + ".html")
        page.goto(path.as_uri())
        ids = set(page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)"))
        missing = [name for name in names if name not in ids]
        assert missing == [], f"{info.name}: {missing} not in its reference page"
    assert blocked == [], f"the reference asked the network for {blocked}"
