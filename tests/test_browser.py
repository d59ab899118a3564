"""The course in a real browser: JupyterLab on localhost, driven by headless Chromium through Playwright.

For each unit, the completed notebook (a copy of ``solutions/``) runs all its cells in JupyterLab; then every
slider of every explorer is moved with the keyboard, and its picture must change, with no error output in the
notebook and no error on the browser's console. The untouched release (a copy of ``course/``) is run cell by cell
up to its first explorer: the first check cell shows the stub's short message, and the explorer says what to
implement.

The time from a key press to the new picture is printed (it is not asserted: timings belong in
``benchmarks/widgets.py``, against a baseline measured in the same run).

It needs Chromium (Debian's ``/usr/bin/chromium``, or ``$OPTIMLAB_CHROMIUM``) and Playwright for Python (from
PyPI, in the course's dependencies); Playwright's own browser download is never used. Without them the test skips,
saying what is missing; in CI (``CI=true``) it fails instead, since ``.ci/run`` installs both.
"""

import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import CHROMIUM, COURSE, SOLUTIONS, browser_missing, checked_exercises, notebooks

# Headless, and quiet on a closed network: without the background-networking flags Chromium keeps trying to
# reach Google's hosts. --no-sandbox because CI runs as root.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
UNITS = notebooks(SOLUTIONS)
RUN_TIMEOUT_MS = 120_000  # a unit runs in about 10 s on a busy 2-core machine


if browser_missing():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"the browser test cannot run in CI: {browser_missing()}")
    pytest.skip(browser_missing(), allow_module_level=True)

from playwright.sync_api import TimeoutError as PlaywrightTimeout, sync_playwright  # noqa: E402


# ------------------------------------------------------------------------------------------------ the server --

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> None:
    """User settings for this test's JupyterLab only: every cell in the page, no news, no update checks."""
    overrides = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                            "checkForUpdates": False},
    }
    for name, value in overrides.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(value))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free localhost port with a token, its root a temporary folder holding ``completed/`` (a
    copy of solutions/) and ``release/`` (a copy of course/); yields its base URL and token."""
    top = tmp_path_factory.mktemp("lab")
    root = top / "root"
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    shutil.copytree(SOLUTIONS, root / "completed", ignore=ignore)
    shutil.copytree(COURSE, root / "release", ignore=ignore)
    _settings(top / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = os.environ | {"JUPYTER_CONFIG_DIR": str(top / "config"), "JUPYTER_RUNTIME_DIR": str(top / "runtime"),
                        "IPYTHONDIR": str(top / "ipython"), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    log = open(top / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--allow-root", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.user_settings_dir={top / 'settings'}", f"--LabApp.workspaces_dir={top / 'workspaces'}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start:\n{(top / 'server.log').read_text()}") from None
                time.sleep(0.3)
        yield {"url": url, "token": token, "root": root}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _api(lab, method: str, path: str):
    request = urllib.request.Request(f"{lab['url']}{path}", method=method,
                                     headers={"Authorization": f"token {lab['token']}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})  # one cache for all the pages
        yield context
        context.close()
        chromium.close()


# ------------------------------------------------------------------------------------------------ the page --

class Notebook:
    """One notebook open in JupyterLab, with the console errors the page logged."""

    def __init__(self, browser, lab, relative: str):
        self.lab = lab
        self.page = browser.new_page()
        self.errors: list[str] = []
        self.shots = Path(lab["root"]).parent
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        # A workspace of its own, so that JupyterLab does not reopen the notebooks of the tests before.
        workspace = relative.replace("/", "-").replace(".", "-")
        # On a busy machine JupyterLab can ask which kernel to start before it has read the kernel specs; the
        # notebook's own (Python 3) is the one it proposes.
        self.page.add_locator_handler(self.page.locator(".jp-Dialog", has_text="Select Kernel"),
                                      lambda dialog: dialog.locator(".jp-mod-accept").click())
        self.page.goto(f"{lab['url']}/lab/workspaces/{workspace}/tree/{relative}?token={lab['token']}")
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        self.page.locator(".jp-NotebookPanel-toolbar .jp-KernelName", has_text="Python 3").wait_for(timeout=60_000)
        self.wait_idle(timeout=60_000)

    def close(self):
        """Close the page and shut its kernel down (the server would keep it running)."""
        self.page.close()
        for session in _api(self.lab, "GET", "/api/sessions"):
            _api(self.lab, "DELETE", f"/api/sessions/{session['id']}")

    def wait_idle(self, timeout=RUN_TIMEOUT_MS):
        """Until the kernel is connected and idle."""
        self.page.wait_for_function(
            """() => {
                const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                return s && s.getAttribute('data-status') === 'idle';
            }""", timeout=timeout)

    def cell(self, index: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def run_all(self):
        self.page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        self.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        # Done when every code cell has its number, or when none is queued any more (a cell failed and JupyterLab
        # dropped the rest) and the kernel is idle.
        try:
            self.page.wait_for_function(
                """() => {
                    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
                                    .map(p => p.textContent);
                    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
                    return prompts.every(p => /\\[\\d+\\]/.test(p)) || (
                        !prompts.some(p => p.includes('*')) && prompts.some(p => /\\[\\d+\\]/.test(p)) &&
                        status && status.getAttribute('data-status') === 'idle');
                }""", timeout=RUN_TIMEOUT_MS)
        except PlaywrightTimeout:
            self.page.screenshot(path=str(self.shots / "run_all_timeout.png"))
            prompts = self.page.eval_on_selector_all(".jp-Notebook .jp-CodeCell .jp-InputPrompt",
                                                     "els => els.map(e => e.textContent)")
            raise AssertionError(f"Run All did not finish in {RUN_TIMEOUT_MS / 1000:.0f} s: prompts {prompts}; "
                                 f"screenshot in {self.shots}") from None
        self.wait_idle()
        prompts = self.page.eval_on_selector_all(".jp-Notebook .jp-CodeCell .jp-InputPrompt",
                                                 "els => els.map(e => e.textContent)")
        unrun = [i for i, p in enumerate(prompts) if not any(c.isdigit() for c in p)]
        assert not unrun, f"Run All stopped: code cells {unrun} did not run; errors: {self.error_outputs()}"

    def run_cell(self, index: int):
        """Select cell ``index``, run it (Shift+Enter) and wait until it has finished."""
        cell = self.cell(index)
        cell.locator(".jp-InputPrompt").first.click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("Shift+Enter")
        if "jp-CodeCell" in (cell.get_attribute("class") or ""):
            cell.locator(".jp-InputPrompt").first.filter(has_text="[").wait_for()
            self.page.wait_for_function(
                "(c) => /\\[\\d+\\]/.test(c.querySelector('.jp-InputPrompt').textContent)",
                arg=cell.element_handle(), timeout=RUN_TIMEOUT_MS)
            self.wait_idle()

    def error_outputs(self) -> list[str]:
        return self.page.eval_on_selector_all(
            ".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
            ".jp-Notebook .jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']",
            "els => els.map(e => e.innerText.slice(0, 2000))")


def _explorer_cells(path: Path) -> list[int]:
    nb = nbformat.read(path, as_version=4)
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and ("Explorer(" in c.source or "lr_explorer(" in c.source)]


#: An explorer cell that reads nothing from the notebook: ``explorer = plots.ScheduleExplorer("warmup + cosine").show()``
SELF_CONTAINED = re.compile(r'(from optimlab import plots\s+)?\w+ = plots\.\w+Explorer\(("[^"]*")?\)\.show\(\)')


def _first_check(path: Path) -> tuple[int, str]:
    nb = nbformat.read(path, as_version=4)
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.source.strip().startswith('check("'):
            return i, c.source.strip()[len('check("'):-len('")')]
    raise AssertionError(f"{path} has no check cell")


PICTURE = ".jp-OutputArea-output[data-mime-type='image/png'] img"


def _move(nb: Notebook, cell, slider: int) -> tuple[float, str, str]:
    """Press an arrow key on slider ``slider`` of the explorer in ``cell``; wait for the new picture.

    Returns the milliseconds from the key press to the new picture decoded on the page, and the readout before
    and after."""
    handle = cell.locator(".widget-slider .noUi-handle").nth(slider)
    readout = cell.locator(".widget-slider .widget-readout").nth(slider)
    before = readout.inner_text()
    at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    # Timestamps on the page's own clock: the key press (capture phase, before the slider sees it) and the moment
    # the picture of this cell has a new source and has been decoded.
    nb.page.evaluate(
        """(cell) => {
            const img = () => cell.querySelector("%s");
            window.__old = img().src; window.__pressed = null; window.__shown = null;
            document.addEventListener('keydown', () => { window.__pressed = performance.now(); },
                                      {capture: true, once: true});
            const seen = () => {
                const i = img();
                if (i && i.src !== window.__old && window.__shown === null) {
                    window.__shown = -1;
                    i.decode().catch(() => null).then(() => { window.__shown = performance.now(); });
                }
            };
            window.__observer && window.__observer.disconnect();
            window.__observer = new MutationObserver(seen);
            window.__observer.observe(cell, {subtree: true, childList: true, attributes: true,
                                             attributeFilter: ['src']});
        }""" % PICTURE, cell.element_handle())
    nb.page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
    nb.page.wait_for_function("() => window.__shown > 0", timeout=30_000)
    latency = nb.page.evaluate("() => window.__shown - window.__pressed")
    return latency, before, readout.inner_text()


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.parent.name)
def test_a_completed_notebook_runs_and_its_explorers_redraw(lab, browser, path, capsys):
    explorers = _explorer_cells(path)
    assert explorers, f"{path.name} has no explorer"
    nb = Notebook(browser, lab, f"completed/{path.parent.name}/{path.name}")
    try:
        started = time.perf_counter()
        nb.run_all()
        ran = time.perf_counter() - started
        assert nb.error_outputs() == [], "error output after running all cells"
        times = []
        for index in explorers:
            cell = nb.cell(index)
            cell.scroll_into_view_if_needed()
            sliders = cell.locator(".widget-slider .noUi-handle").count()
            assert sliders >= 1, f"cell {index}: no slider"
            assert cell.locator(PICTURE).count() == 1, f"cell {index}: one picture under the sliders"
            for slider in range(sliders):
                for _ in range(2):
                    old = cell.locator(PICTURE).get_attribute("src")
                    latency, before, after = _move(nb, cell, slider)
                    assert cell.locator(PICTURE).get_attribute("src") != old, "the picture changed"
                    assert after != before, f"cell {index}, slider {slider}: the readout moved"
                    times.append(latency)
            # An explorer with a menu (units 05 and 07): another choice redraws (with its own sliders in 05).
            menus = cell.locator(".widget-dropdown select")
            if menus.count():
                options = menus.first.locator("option").all_inner_texts()
                current = menus.first.evaluate("select => select.options[select.selectedIndex].text")
                for option in [o for o in options if o != current][-2:]:
                    old = cell.locator(PICTURE).get_attribute("src")
                    menus.first.select_option(label=option)
                    nb.page.wait_for_function(
                        "([cell, old]) => { const i = cell.querySelector(%r); return i && i.src !== old; }"
                        % PICTURE, arg=[cell.element_handle(), old], timeout=30_000)
                    latency, before, after = _move(nb, cell, 0)
                    assert after != before, f"cell {index}, {option}: the readout moved"
                    times.append(latency)
            status = cell.locator(".widget-html").inner_text()
            assert "✘" not in status, f"cell {index}: {status}"
        assert nb.error_outputs() == [], "error output after moving the sliders"
        # Saved, the notebook keeps each explorer's last picture as a plain image/png output.
        shown = [nb.cell(i).locator(PICTURE).get_attribute("src").split(",", 1)[1] for i in explorers]
        saved = lab["root"] / "completed" / path.parent.name / path.name
        nb.cell(explorers[-1]).locator(".jp-InputPrompt").first.click()
        nb.page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while True:
            cells = json.loads(saved.read_text())["cells"]
            kept = [[o.get("data", {}).get("image/png", "").replace("\n", "") for o in cells[i]["outputs"]]
                    for i in explorers]
            if all(picture in pictures for picture, pictures in zip(shown, kept)) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert all(picture in pictures for picture, pictures in zip(shown, kept)), (
            "the saved notebook keeps the picture each explorer shows")
        # Every exercise of the unit has its check cell, and each one passed (tests/test_notebooks.py runs the
        # notebooks in a plain kernel only where this test cannot run).
        checks = checked_exercises(nbformat.read(path, as_version=4))
        unit = json.loads((SOLUTIONS / "optimlab" / "check_data" / f"{path.parent.name}.json").read_text())
        assert set(unit["exercises"]) <= set(checks.values()), "every exercise of the unit has its check cell"
        outputs = [c.get("outputs", []) for c in nbformat.reads(saved.read_text(), as_version=4).cells]
        for index, name in checks.items():
            printed = "".join(o.get("text", "") for o in outputs[index])
            assert f"✔ {name}: all" in printed, f"cell {index}: {printed[:500]}"
        assert nb.errors == [], "errors on the browser's console"
        with capsys.disabled():
            print(f"\n  {path.parent.name}: all cells ran in {ran:.1f} s in JupyterLab; key press to new picture "
                  f"over {len(times)} moves: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")
    finally:
        nb.close()


def _one_per_explorer(paths: list[Path]) -> list[Path]:
    """The first notebook of each kind of explorer (units 01-04 share plots.Explorer): in a browser, what differs
    between the untouched notebooks is the explorer's stub message. tests/test_notebooks.py runs every untouched
    notebook to its first check in a plain kernel."""
    kinds: dict[str, Path] = {}
    for path in paths:
        cells = nbformat.read(path, as_version=4).cells
        kind = re.search(r"plots\.(\w+)\(", cells[_explorer_cells(path)[0]].source)
        kinds.setdefault(kind[1] if kind else path.parent.name, path)
    return list(kinds.values())


@pytest.mark.parametrize("path", _one_per_explorer(notebooks(COURSE)), ids=lambda p: p.parent.name)
def test_the_untouched_release_says_what_to_implement(lab, browser, path):
    check_index, exercise = _first_check(path)
    explorer = _explorer_cells(path)[0]
    nb = Notebook(browser, lab, f"release/{path.parent.name}/{path.name}")
    try:
        # Up to the first check, as a student runs it, and on to the explorer; an explorer that needs nothing from
        # the cells between (it trains its own network) is run right after the check, without them.
        source = nbformat.read(path, as_version=4).cells[explorer].source
        between = [] if SELF_CONTAINED.fullmatch(source.strip()) else range(check_index + 1, explorer)
        for index in [*range(check_index + 1), *between, explorer]:
            nb.run_cell(index)
        message = nb.cell(check_index).locator(".jp-OutputArea-output").inner_text()
        assert f"{exercise} is not implemented yet" in message, message
        lines = [line for line in message.splitlines() if line.strip()]
        assert len(lines) <= 4 and "Traceback" not in message, f"the stub's message is not short:\n{message}"
        cell = nb.cell(explorer)
        status = cell.locator(".widget-html").inner_text()
        assert "is not implemented yet" in status and "optimlab/" in status, status
        assert cell.locator(PICTURE).count() == 1, "the explorer shows its picture (with the message)"
        assert nb.errors == [], "errors on the browser's console"
    finally:
        nb.close()
