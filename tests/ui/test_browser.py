"""The web UI in a real browser: Debian's Chromium driven by Playwright through its executable path.

One walk through what a person who never uses the command line does: pick the demo model and
the bundled data, see the plan and a rendered sample with the trained spans highlighted, start
a 30-step run, watch the loss plot fill in until the run finishes, and chat with the result.
A wrong model path shows the CLI's one-line error next to the field. Screenshots of each panel
are kept in $TMPDIR/framework-ui-screenshots (printed), or under $FRAMEWORK_UI_SCREENSHOTS.

CI installs Chromium (.ci/run); only a developer machine without it skips, saying why.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Training steps of the run the browser starts and watches.
STEPS = 100


def _browser_or_skip() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright; no browser download is needed)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + ": .ci/run installs it, so CI must not skip this test")
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def ui(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``framework ui`` on a free loopback port; its runs (own sessions) are ended afterwards too."""
    _browser_or_skip()
    port = _free_port()
    runs = tmp_path / "runs"
    log = open(tmp_path / "ui.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "framework", "ui", "--port", str(port), "--runs", str(runs)],
                              stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                pytest.fail("framework ui did not start: " + (tmp_path / "ui.log").read_text(errors="replace"))
            time.sleep(0.5)
        yield url, runs
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        for launch in runs.glob("*/ui-run.json"):  # runs outlive the UI on purpose: end the test's own
            pid = json.loads(launch.read_text())["pid"]
            try:  # only while that pid is still this test's `framework run` (a finished run's pid may be reused)
                if b"framework\x00run" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


def test_a_person_fine_tunes_the_demo_model_in_the_browser(ui: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, runs = ui
    # a fixed folder under the system's tmp: pytest's own tmp folders are rotated away after three runs
    shots = Path(os.environ.get("FRAMEWORK_UI_SCREENSHOTS") or Path(tempfile.gettempdir()) / "framework-ui-screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")

        # a wrong model: the CLI's one line next to the field, no traceback
        page.locator("#model textarea, #model input").first.fill(str(tmp_path / "no-such-model"))
        page.locator("#show-plan").click()
        expect(page.locator("#model-error")).to_contain_text("error: ", timeout=60_000)
        error = page.locator("#model-error").inner_text()
        assert "no-such-model" in error and "Traceback" not in error and len(error.strip().splitlines()) == 1

        # the demo model: plugin, variant and its evidence, RoPE decision, settings with sources
        page.locator("#use-demo").click()
        expect(page.locator("#plan")).to_contain_text("plugin llama3", timeout=60_000)
        plan = page.locator("#plan").inner_text()
        assert "variant" in plan and "vocab_size=128256" in plan and "RoPE" in plan
        expect(page.locator("#model-error")).to_have_text("")
        page.screenshot(path=str(shots / "1-model.png"), full_page=True)

        # the bundled data: format, report, a sample whose trained reply is highlighted
        page.get_by_role("tab", name="2 · Data").click()
        page.locator("#use-bundled").click()
        trained = page.locator("#rendered .fw-sample .fw-trained")
        expect(trained.first).to_be_visible(timeout=120_000)
        assert "<|eot_id|>" in trained.first.inner_text()  # the end-of-turn token is trained
        assert page.locator("#rendered .fw-sample .fw-context").count() > 0  # the prompt is shown, not trained
        expect(page.locator("#data-format")).to_contain_text("alpaca")
        expect(page.locator("#data-report textarea")).to_have_value(re.compile(r"kept 52, dropped 0"))
        page.screenshot(path=str(shots / "2-data.png"), full_page=True)

        # settings: a log line per step; enough steps that the 1 s refresh sees the run half-way even on an idle
        # machine (10, and later 30 steps with the faster CPU loss, finished between two refreshes there); the
        # command and YAML say the same
        page.get_by_role("tab", name="3 · Settings").click()
        for field, value in (("training-max_steps", str(STEPS)), ("training-micro_batch_size", "1"),
                             ("data-cutoff_len", "128")):
            page.locator(f"#{field} textarea, #{field} input").first.fill(value)
        page.get_by_text("Advanced: every other key").click()
        page.locator("#advanced textarea").fill(f"training.logging_steps=1\ntraining.eval_steps={STEPS}\n"
                                                f"training.save_steps={STEPS}")
        page.locator("#show-settings").click()
        expect(page.locator("#command")).to_contain_text(f"--set training.max_steps={STEPS}", timeout=60_000)
        expect(page.locator("#settings")).to_contain_text("you")  # the source of the form's values
        page.screenshot(path=str(shots / "3-settings.png"), full_page=True)

        # the run: live progress and plot until it finishes
        page.get_by_role("tab", name="4 · Run").click()
        page.locator("#start").click()
        counts: list[int] = []
        progress = ""
        deadline = time.time() + 300
        while time.time() < deadline and "finished" not in progress:
            progress = page.locator("#progress").inner_text()
            found = re.search(r"(\d+) loss points", progress)
            if found and (not counts or counts[-1] != int(found.group(1))):
                counts.append(int(found.group(1)))
            time.sleep(0.5)
        run_error = page.locator("#run-error").inner_text()
        assert "finished" in progress, f"{progress!r} {run_error!r}\n" + page.locator("#log textarea").input_value()
        assert f"step {STEPS}/{STEPS}" in progress and counts[-1] == STEPS
        assert len([c for c in counts if 0 < c < STEPS]) >= 1, counts  # the plot grew while the run trained
        line = page.locator("#loss-plot .mark-line path").first  # vega draws the train loss as a path
        expect(line).to_be_visible(timeout=30_000)
        assert (line.get_attribute("d") or "").count("L") >= 8  # one segment per logged step
        assert line.get_attribute("stroke") not in (None, "", "none", "transparent")  # and draws it in colour
        page.screenshot(path=str(shots / "4-run.png"), full_page=True)
        directory = next(runs.glob("ui-*"))
        assert (directory / "metrics.json").exists() and (directory / "adapter_model.safetensors").exists()

        # chat with the result (the family's template and stop tokens)
        page.get_by_role("tab", name="5 · Use").click()
        page.locator("#message textarea").fill("Who are you?")
        page.locator("#send").click()
        reply = page.locator("#chat .bot, #chat [data-testid='bot']").first
        expect(reply).to_be_visible(timeout=120_000)
        expect(page.locator("#use-error")).to_have_text("")
        page.screenshot(path=str(shots / "5-chat.png"), full_page=True)
        browser.close()
