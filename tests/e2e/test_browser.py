"""The app in a real browser: Playwright driving Debian's chromium (headless; no browser is downloaded).

One server per module with tiny random weights. Runs analyse the first seconds of jump.mp4 so every
stage runs while the module stays fast; later tests reuse the cached run where they only need a result.
Screenshots go to test-artifacts/ (git-ignored); the main one is copied to docs/screenshot_app.png.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lart_demo.app import build_ui, launch_kwargs
from lart_demo.config import Settings
from lart_demo.pipeline.request import AnalysisRequest, RunOutput
from lart_demo.pipeline.run import run_analysis
from lart_demo.progress import Cancelled, ProgressFn

sync_api = pytest.importorskip("playwright.sync_api")

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
END_S = 2.0  # seconds of jump.mp4 analysed by the main run (48 frames at 24 fps)
RUN_TIMEOUT_MS = 600_000
FINISHED = ("**Done**", "Done ·", "Error:", "Cannot start:", "Cancelled.")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian chromium (/usr/bin/chromium) is not installed"),
]


class RecordingRunner:
    """The real pipeline, remembering how each run ended (so a test can see that a cancel stopped the work)."""

    def __init__(self) -> None:
        self.ended: list[str] = []
        self.changed = threading.Condition()

    def __call__(self, request: AnalysisRequest, progress: ProgressFn, cancel: threading.Event) -> RunOutput:
        outcome = "error"
        try:
            out = run_analysis(request, progress, cancel)
            outcome = "done"
            return out
        except Cancelled:
            outcome = "cancelled"
            raise
        finally:
            with self.changed:
                self.ended.append(outcome)
                self.changed.notify_all()

    def wait_for(self, outcome: str, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: outcome in self.ended, timeout=timeout)


@pytest.fixture(scope="module")
def server(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RecordingRunner]]:
    settings = Settings(weights_dir=tiny_weights, output_dir=tmp_path_factory.mktemp("browser_out"), device="cpu")
    runner = RecordingRunner()
    demo = build_ui(settings, runner=runner)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(settings))
    try:
        yield demo.local_url, runner
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser, server):
    url, _ = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(url, wait_until="domcontentloaded")
    pg.wait_for_selector("#lart-run", timeout=60_000)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


# ------------------------------------------------------------------------------------------ helpers


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


STATUS = "#lart-status [data-testid=markdown]"  # the text itself, without Gradio's progress overlay


def readme_shot(page, chart_el) -> Path:
    """The player from the video down to the timeline (with its hover tooltip), scaled for the README."""
    import cv2

    player = page.locator("#lart-player")
    full = ARTIFACTS / "browser_player.png"
    ARTIFACTS.mkdir(exist_ok=True)
    player.screenshot(path=str(full))
    top, chart = player.bounding_box(), chart_el.bounding_box()
    image = cv2.imread(str(full))
    bottom = int(chart["y"] - top["y"] + chart["height"] + 16)
    image = image[: min(bottom, image.shape[0])]
    scale = min(1.0, 900 / image.shape[1])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    path = ARTIFACTS / "browser_readme.png"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def status(page) -> str:
    return page.inner_text(STATUS)


def upload(page, path: Path) -> None:
    clear = page.locator("#lart-file button[aria-label=Clear]")
    if clear.count():
        clear.first.click()
    page.locator("#lart-file input[type=file]").set_input_files(str(path))
    page.wait_for_selector(f'#lart-file td.filename[aria-label="{path.name}"]', timeout=30_000)


def set_number(page, elem_id: str, value: float | str) -> None:
    """Type into a number box and check that the value stuck (a lazily mounted box may reset it once)."""
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.wait_for(state="visible", timeout=30_000)
    for _ in range(3):
        box.fill(str(value))
        box.press("Tab")
        page.wait_for_timeout(300)
        if float(box.input_value()) == float(value):
            return
    raise AssertionError(f"#{elem_id} did not take the value {value} (shows {box.input_value()})")


def run_and_wait(page, timeout_ms: int = RUN_TIMEOUT_MS) -> str:
    """Click Analyze and wait until the status says how the run ended; returns every status line seen."""
    before = status(page)
    page.click("#lart-run")
    page.wait_for_function(
        """([before, finished]) => {
             const s = document.querySelector('#lart-status [data-testid=markdown]').innerText;
             return s !== before && finished.some(f => s.includes(f.replace(/\\*/g, '')));
           }""",
        arg=[before, list(FINISHED)],
        timeout=timeout_ms,
        polling=200,
    )
    return status(page)


def player_state(page) -> dict:
    return page.evaluate(
        """() => {
          const root = document.querySelector('#lart-player .lart-player');
          const v = root.querySelector('video.lp-video');
          const active = root.querySelector('svg.lp-chart.active');
          const p = JSON.parse(root.dataset.payload);
          return {
            payload: p, currentTime: v.currentTime, paused: v.paused, duration: v.duration,
            activeTid: active ? Number(active.dataset.tid) : null,
            activeTraces: active ? [...active.querySelectorAll('polyline.lp-trace')].map(l => l.dataset.action) : [],
            legend: [...root.querySelectorAll('.lp-legend span')].map(s => s.innerText.trim()),
            barsFrame: root.dataset.barsFrame, frameDrawn: root.dataset.frameDrawn,
            bars: root.querySelector('.lp-bars').innerHTML, cursorTime: Number(root.dataset.cursorTime),
          };
        }"""
    )


def canvas_checksum(page) -> float:
    return page.evaluate(
        """() => {
          const c = document.querySelector('#lart-player canvas.lp-frame');
          if (!c.width) return -1;
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let s = 0; for (let i = 0; i < d.length; i += 7) s += d[i] * ((i % 13) + 1);
          return s;
        }"""
    )


def jump(examples_dir: Path) -> Path:
    return examples_dir / "jump.mp4"


# ------------------------------------------------------------------------------------------ tests


def test_page_shows_limits_banner_and_generated_example(page) -> None:
    limits = page.inner_text("#lart-limits")
    assert "500 MB" in limits and "60 s" in limits and "wait in line" in limits
    assert "Random weights: predictions are meaningless" in page.inner_text("#lart-random-banner")
    assert not page.locator("#lart-weights-missing").is_visible()  # the tiny weights are complete
    body = page.inner_text("body")
    assert "generates itself" in body
    page.get_by_text("generated_example.mp4").first.click()
    page.wait_for_selector('#lart-file td.filename[aria-label="generated_example.mp4"]', timeout=30_000)


def test_upload_run_play_scrub_and_seek(page, examples_dir: Path) -> None:
    upload(page, jump(examples_dir))
    set_number(page, "lart-end", END_S)
    page.click("#lart-run")
    # progress: per-stage counts and an ETA appear while it runs
    seen: list[str] = []
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        text = status(page)
        if not seen or text != seen[-1]:
            seen.append(text)
        if "Done ·" in text or "Error:" in text:
            break
        time.sleep(0.25)
    final = seen[-1]
    assert "Done ·" in final, seen[-3:]
    assert "over 48 frames" in final
    assert any(re.search(r"Step \d+ · Finding and tracking people.*: \d+/48", s) for s in seen), seen
    assert any(re.search(r"about \d+ s left in this step", s) for s in seen), seen
    page.wait_for_selector("#lart-player svg.lp-chart.active", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#lart-player video.lp-video').readyState >= 2")
    st = player_state(page)
    people = st["payload"]["people"]
    assert len(people) >= 2, "the tiny models track several people in jump.mp4"
    assert st["payload"]["n_frames"] == 48
    assert st["duration"] == pytest.approx(2.0, abs=0.05)

    # the video plays: currentTime advances and the cursor follows it
    page.evaluate("() => document.querySelector('#lart-player video.lp-video').play()")
    page.wait_for_function("() => document.querySelector('#lart-player video.lp-video').currentTime > 0.4")
    page.evaluate("() => document.querySelector('#lart-player video.lp-video').pause()")
    st = player_state(page)
    assert st["cursorTime"] == pytest.approx(st["currentTime"], abs=0.3)

    # one polyline per top action of the selected person; switching person switches the chart and legend
    assert st["activeTid"] == people[0]["id"]
    assert st["activeTraces"] == people[0]["traces"]
    assert [s.split("\n")[-1].strip() for s in st["legend"]] == people[0]["traces"]
    page.click(f'#lart-player button.lp-person[data-tid="{people[1]["id"]}"]')
    st = player_state(page)
    assert st["activeTid"] == people[1]["id"]
    assert st["activeTraces"] == people[1]["traces"]
    shot(page, "browser_results")

    # hovering the chart shows exact values and the time
    chart_el = page.locator("#lart-player svg.lp-chart.active")
    chart_el.scroll_into_view_if_needed()
    chart = chart_el.bounding_box()
    page.mouse.move(chart["x"] + chart["width"] * 0.3, chart["y"] + chart["height"] / 2)
    tip = page.locator("#lart-player .lp-tooltip")
    tip.wait_for(state="visible", timeout=5_000)
    assert re.search(r"\d+\.\d\d s · frame \d+", tip.inner_text())
    readme_shot(page, chart_el)

    # clicking the timeline seeks the video to the clicked time; dragging follows the pointer
    page.mouse.click(chart["x"] + chart["width"] * 0.75, chart["y"] + chart["height"] / 2)
    page.wait_for_function("() => document.querySelector('#lart-player video.lp-video').seeking === false")
    assert player_state(page)["currentTime"] == pytest.approx(0.75 * 2.0, abs=0.05)
    page.mouse.move(chart["x"] + chart["width"] * 0.2, chart["y"] + 20)
    page.mouse.down()
    page.mouse.move(chart["x"] + chart["width"] * 0.5, chart["y"] + 20, steps=5)
    page.mouse.up()
    assert player_state(page)["currentTime"] == pytest.approx(0.5 * 2.0, abs=0.05)

    # the scrubber: another frame on the canvas and other bars
    scrubber = page.locator("#lart-player input.lp-scrubber")
    scrubber.scroll_into_view_if_needed()
    scrubber.focus()
    page.keyboard.press("End")
    page.wait_for_function("() => document.querySelector('#lart-player .lart-player').dataset.frameDrawn === '47'")
    last = player_state(page)
    last_pixels = canvas_checksum(page)
    assert last["barsFrame"] == "47" and last_pixels > 0
    assert last["currentTime"] == pytest.approx(47.5 / 24, abs=0.03)
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('#lart-player .lart-player').dataset.frameDrawn === '0'")
    first = player_state(page)
    assert first["barsFrame"] == "0"
    assert first["bars"] != last["bars"]
    assert canvas_checksum(page) != last_pixels
    page.keyboard.press("End")
    page.wait_for_function("() => document.querySelector('#lart-player .lart-player').dataset.frameDrawn === '47'")
    last = player_state(page)
    bars = {p["id"]: p for p in last["payload"]["people"] if 47 in p["frames"]}
    shown = page.eval_on_selector_all(
        "#lart-player .lp-bar", "els => els.map(e => [Number(e.dataset.tid), e.dataset.action, Number(e.dataset.prob)])"
    )
    assert {tid for tid, _, _ in shown} == set(bars)
    for tid, action, prob in shown:
        person = bars[tid]
        assert prob == pytest.approx(person["probs"][action][person["frames"].index(47)])
    shot(page, "browser_scrubbed")

    # segment search lists moments; clicking one seeks the video there
    set_number(page, "lart-seg-threshold", 0.05)
    page.click("#lart-seg-search")
    page.wait_for_selector("#lart-segments button.lp-seg", timeout=60_000)
    buttons = page.locator("#lart-segments button.lp-seg")
    assert buttons.count() >= 1
    target = buttons.nth(buttons.count() - 1)
    t = float(target.get_attribute("data-t"))
    target.click()
    page.wait_for_function("() => document.querySelector('#lart-player video.lp-video').seeking === false")
    assert player_state(page)["currentTime"] == pytest.approx(t, abs=0.05)
    path = shot(page, "browser_segments")
    # everything above passed: the picture of the player is good enough for the README
    shutil.copyfile(ARTIFACTS / "browser_readme.png", REPO_ROOT / "docs" / "screenshot_app.png")
    assert path.stat().st_size > 10_000


def test_too_long_clip_is_capped_and_the_page_says_so(page, examples_dir: Path) -> None:
    upload(page, jump(examples_dir))
    page.locator("#lart-options").get_by_text("Options").first.click()
    set_number(page, "lart-max-duration", 1)
    final = run_and_wait(page)
    assert "Done ·" in final and not re.search(r"^(Error|Cannot start):", final, re.M), final
    assert "Trimmed to the first 1 s (of 7.1 s); the limit is 1 s." in final
    assert "Trimmed to the first 1 s" in page.inner_text("#lart-player")
    assert player_state(page)["payload"]["n_frames"] == 24
    shot(page, "browser_capped")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("text", "is not a supported video type (.txt)"),
        ("corrupt", "is not a video we can read"),
        ("url", "Only YouTube links are accepted"),
    ],
)
def test_bad_input_shows_a_message_and_the_app_stays_usable(
    page, examples_dir: Path, tmp_path: Path, case: str, expected: str
) -> None:
    if case == "url":
        page.get_by_role("tab", name="YouTube").click()
        page.locator("#lart-url textarea, #lart-url input").first.fill("https://vimeo.com/1")
    else:
        bad = tmp_path / ("notes.txt" if case == "text" else "broken.mp4")
        if case == "text":
            bad.write_text("these are my notes, not a video\n")
        else:
            bad.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        upload(page, bad)
    final = run_and_wait(page)
    assert expected in final, final
    assert "Traceback" not in page.inner_text("body")
    shot(page, f"browser_bad_{case}")
    # a following good run works in the same page
    if case == "url":
        page.locator("#lart-url textarea, #lart-url input").first.fill("")
        page.get_by_role("tab", name="Upload").click()
    upload(page, jump(examples_dir))
    set_number(page, "lart-end", END_S)
    final = run_and_wait(page)
    assert "Done ·" in final, final
    page.wait_for_selector("#lart-player svg.lp-chart.active", timeout=30_000)


def test_cancel_stops_the_run_and_a_new_run_works(page, server, examples_dir: Path) -> None:
    _, runner = server
    upload(page, jump(examples_dir))
    set_number(page, "lart-end", 5)  # a run long enough to cancel in the middle
    page.click("#lart-run")
    page.wait_for_function(
        "() => /Step \\d+ · Finding and tracking/.test(document.querySelector('#lart-status').innerText)",
        timeout=120_000,
    )
    page.click("#lart-cancel")
    page.wait_for_function(
        "() => document.querySelector('#lart-status [data-testid=markdown]').innerText.includes('Cancelled.')"
    )
    assert runner.wait_for("cancelled", timeout=60), runner.ended  # the worker stopped: the GPU is free
    time.sleep(1.5)  # nothing from the cancelled run overwrites the page afterwards
    assert "Cancelled." in status(page)
    shot(page, "browser_cancelled")
    set_number(page, "lart-end", END_S)
    final = run_and_wait(page)
    assert "Done ·" in final, final
