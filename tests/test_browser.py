"""The experiment panel as a user meets it: JupyterLab on loopback, notebook 06 in headless
Chromium, the Run button clicked with the mouse, the comparison read off the page.

Needs Debian's chromium (``apt-get install chromium``) and Playwright's Python package;
``.ci/run`` installs both and sets SWARMLAB_REQUIRE_BROWSER, so that in CI a missing
browser fails the test instead of skipping it. The screenshot is saved as an artifact
(``$SWARMLAB_ARTIFACTS``, default ``data/artifacts``).
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import stop_group

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "06_experiment_panel.ipynb"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]

RUN = re.compile(r"^\W*Run$")  # the button's name is its icon, then "Run"

pytestmark = pytest.mark.slow


def _need_browser():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        why = "the browser test needs " + " and ".join(missing)
        if os.environ.get("SWARMLAB_REQUIRE_BROWSER"):
            pytest.fail(why)
        pytest.skip(why)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on 127.0.0.1 with a token, serving a copy of notebook 06; stopped with
    its kernels afterwards."""
    _need_browser()
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "CI": "true", "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    with open(tmp_path / "lab.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield base, token, root
    finally:
        stop_group(proc)


def _dropdown(panel, label: str):
    """The <select> of the panel's dropdown labelled ``label``."""
    return panel.locator(".widget-dropdown").filter(has=panel.page.locator("label", has_text=re.compile(
        f"^{label}$"))).locator("select")


def test_panel_runs_in_a_real_browser(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token, _ = lab
    shots = Path(os.environ.get("SWARMLAB_ARTIFACTS", ROOT / "data" / "artifacts"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=90_000)
            news = page.get_by_role("alert").get_by_role("button", name="No", exact=True)
            if news.count():  # JupyterLab asks once about its news feed; the toast would cover the panel
                news.click()
            # Run the set-up and the cell that opens the panel (two markdown, two code cells).
            page.locator(".jp-Notebook .jp-Cell").first.click()
            for _ in range(4):
                page.keyboard.press("Shift+Enter")
            panel = page.locator(".jp-OutputArea-output .widget-vbox").first
            run_button = panel.get_by_role("button", name=RUN)
            expect(run_button).to_be_enabled(timeout=90_000)
            images = panel.locator("img.widget-image")
            expect(images).to_have_count(2)  # the run's chart and the comparison plots...
            for i in range(2):  # ...kept out of the page until drawn: no broken-image icon
                expect(images.nth(i)).to_be_hidden()
            # the simulated clock has no execution mode: the control is off while it is chosen
            mode = _dropdown(panel, "mode")
            expect(mode).to_be_enabled()
            panel.get_by_role("button", name="simulated", exact=True).click()
            expect(mode).to_be_disabled()
            panel.get_by_role("button", name="real", exact=True).click()
            expect(mode).to_be_enabled()
            run_button.click()
            # The kernel stays free while the suite runs on its loop: Stop is live meanwhile.
            table = panel.locator("table.swarmlab-comparison")
            expect(table).to_be_visible(timeout=120_000)
            expect(panel.get_by_role("button", name=RUN)).to_be_enabled(timeout=120_000)
            expect(panel.get_by_text("done:")).to_be_visible()
            rows = table.locator("tbody tr")
            expect(rows).to_have_count(3)  # round_robin, least_loaded, work_stealing
            for alg in ("round_robin", "least_loaded", "work_stealing"):
                expect(table).to_contain_text(alg)
            expect(panel.get_by_text(re.compile(r"\(finished\)"))).to_be_visible()  # not "(stopped)"
            expect(panel.get_by_text(re.compile(r"\(stopped"))).to_have_count(0)
            verdicts = panel.locator(".swarmlab-verdicts")
            expect(verdicts).to_be_visible()
            expect(verdicts).to_contain_text("makespan")
            expect(verdicts).to_contain_text("drift check")
            # every cell holds its text (nothing cut or spilling) and the table fits in the panel
            fits = table.evaluate("""t => {
                const cells = [...t.querySelectorAll('td, th')];
                const bad = cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent);
                const box = t.getBoundingClientRect(), out = t.closest('.widget-vbox').getBoundingClientRect();
                return {bad, inside: box.right <= out.right + 1 && box.left >= out.left - 1};
            }""")
            assert fits == {"bad": [], "inside": True}, fits
            for i in range(2):
                expect(images.nth(i)).to_be_visible()
                assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            panel.screenshot(path=str(shots / "experiment_panel.png"))
            # Clear: the comparison starts afresh, its plots leave the page
            panel.get_by_role("button", name=re.compile(r"Clear$")).click()
            expect(panel.get_by_text("cleared:")).to_be_visible()
            expect(table).to_have_count(0)
            expect(images.nth(1)).to_be_hidden()
            # Stop a long run: its bar shows what was cancelled
            tasks = panel.locator(".widget-inline-hbox").filter(
                has=page.locator("label", has_text=re.compile("^tasks$"))).locator("input")
            tasks.fill("4000")
            tasks.press("Enter")
            run_button.click()
            expect(panel.get_by_text(re.compile(r"\(running\)"))).to_be_visible(timeout=60_000)
            panel.get_by_role("button", name=re.compile(r"Stop$")).click()
            expect(panel.get_by_text("stopped: the runs finished so far")).to_be_visible(timeout=60_000)
            expect(panel.get_by_text(re.compile(r"^\d+ cancelled$"))).to_be_visible()
            expect(panel.get_by_text(re.compile(r"\(stopped, \d+ cancelled\)"))).to_be_visible()
            panel.screenshot(path=str(shots / "experiment_panel_stopped.png"))
        except BaseException:
            page.screenshot(path=str(shots / "experiment_panel_failed.png"), full_page=True)
            raise
        finally:
            browser.close()


# ------------------------------------------------------------------ the dashboard

DASHBOARD_TASKS = 120  # CPU-bound tasks on threads: each run lasts a few seconds


def _env():
    return {**os.environ, "CI": "true", "MPLBACKEND": "Agg",
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def _start_dashboard(tmp_path, store):
    """``swarmlab dashboard`` on a free loopback port; its process and the URL it printed."""
    env = {**_env(), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    with open(tmp_path / "dashboard.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "swarmlab", "dashboard", "--store", str(store),
                                 "--port", str(_free_port())], env=env, stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)
    deadline = time.monotonic() + 90
    line = b""
    while b"token=" not in line:  # the URL with its token, printed once Voila listens
        line = proc.stdout.readline()
        if (not line and proc.poll() is not None) or time.monotonic() > deadline:
            stop_group(proc)
            raise AssertionError("the dashboard did not start:\n" + (tmp_path / "dashboard.log").read_text()[-3000:])
    return proc, re.search(rb"http://127\.0\.0\.1:\d+/\?token=\S+", line).group().decode()



@pytest.mark.timeout(300)
def test_dashboard_follows_a_comparison_run_by_run_in_a_real_browser(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    _need_browser()
    shots = Path(os.environ.get("SWARMLAB_ARTIFACTS", ROOT / "data" / "artifacts"))
    shots.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "data"
    store = out / "runs"
    server, url = _start_dashboard(tmp_path, store)
    assert url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
    compare = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1300, "height": 1700})
            try:
                page.goto(url)
                expect(page.get_by_text("0 runs: no run yet")).to_be_visible(timeout=90_000)
                with open(tmp_path / "compare.log", "wb") as log, open(tmp_path / "compare.out", "wb") as said:
                    compare = subprocess.Popen(
                        [sys.executable, "-m", "swarmlab", "compare", "--workload", "cpu", "--tasks",
                         str(DASHBOARD_TASKS), "--algorithms", "round_robin,least_loaded", "--mode", "thread",
                         "--repeats", "1", "--out", str(out)], env=_env(),
                        stdout=said, stderr=log,
                        start_new_session=True)
                # the first journaled run appears while it runs, and its counts grow
                running = page.locator("table.swarmlab-runs tr[data-status='running']").first
                expect(running).to_be_visible(timeout=120_000)
                run_id = running.get_attribute("data-run")
                ended = page.locator(f"tr[data-run='{run_id}'] td.ended")
                seen = []
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    text = ended.text_content(timeout=10_000) or ""
                    done, total = (int(x) for x in text.split("/")) if "/" in text else (-1, -1)
                    if done >= 0 and (not seen or seen[-1] != done):
                        seen.append(done)
                    if len([d for d in seen if d < total]) >= 2:
                        break  # two different counts below the total: seen growing while running
                    time.sleep(0.1)
                below = [d for d in seen if d < DASHBOARD_TASKS]
                assert len(below) >= 2 and below == sorted(below), seen
                # the comparison running now is named by what it runs, before any summary exists
                expect(page.locator(".comparison-running")).to_contain_text(
                    f"comparison running now: workload cpu × {DASHBOARD_TASKS}", timeout=30_000)
                page.screenshot(path=str(shots / "dashboard_running.png"), full_page=True)
                # it finishes with every task ended, and the comparison is shown once written
                row = page.locator(f"tr[data-run='{run_id}']")
                expect(row).to_have_attribute("data-status", "finished", timeout=120_000)
                expect(ended).to_have_text(f"{DASHBOARD_TASKS}/{DASHBOARD_TASKS}")
                assert compare.wait(180) == 0, (tmp_path / "compare.log").read_text()[-3000:]
                table = page.locator("table.swarmlab-comparison")
                expect(table).to_be_visible(timeout=60_000)
                for alg in ("round_robin", "least_loaded"):
                    expect(table).to_contain_text(alg)
                # its verdicts are the sentences the command prints, not raw rows
                printed = [line.strip() for line in (tmp_path / "compare.out").read_text().splitlines()
                           if "makespan" in line and (" vs " in line or "significant" in line)]
                verdicts = page.locator("ul.swarmlab-verdicts li")
                assert printed, (tmp_path / "compare.out").read_text()
                expect(verdicts).to_have_text(printed)
                expect(page.get_by_text("p_adjusted")).to_have_count(0)
                expect(page.locator(".comparison-running")).to_have_count(0)
                expect(page.locator("tr[data-status='finished']")).to_have_count(4, timeout=30_000)  # + the baseline, first and last
                expect(page.locator("tr[data-status='running']")).to_have_count(0)
                # the run's chart and the comparison's PNG, both decoded
                page.wait_for_function("() => document.images.length === 2 && [...document.images].every("
                                       "img => img.complete && img.naturalWidth > 0)", timeout=60_000)
                # the page scrolls as a page: no panel scrolls inside it, the page holds all of the view
                inner = page.evaluate("""() => [...document.querySelectorAll('*')].filter(e => {
                    const s = getComputedStyle(e);
                    return (s.overflowY == 'auto' || s.overflowY == 'scroll') && e.scrollHeight > e.clientHeight + 1
                        && e !== document.documentElement && e !== document.body; }).map(e => e.id || e.className)""")
                bottom, height = page.evaluate("""() => [
                    document.querySelector('.swarmlab-dash').getBoundingClientRect().bottom + window.scrollY,
                    document.documentElement.scrollHeight]""")
                assert inner == [] and 1700 < bottom <= height + 1, (inner, bottom, height)
                page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
            except BaseException:
                page.screenshot(path=str(shots / "dashboard_failed.png"), full_page=True)
                raise
            finally:
                browser.close()
    finally:
        if compare is not None:
            stop_group(compare)
        stop_group(server)
