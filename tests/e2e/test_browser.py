"""The app in a real browser: Playwright driving Debian's chromium (headless; no browser is downloaded).

One server per module, with tiny random weights and known person boxes (three people, no detector).
The first run analyses 2 s of jump.mp4; every later page gets the same run back from the cache.
Each numbered point of the page's design (issue 14) is checked at 1280 px and 400 px wide, in light
and dark mode, with screenshots in test-artifacts/ (git-ignored); the README's picture is copied to
docs/screenshot_app.png. Rendering labels never overlapping (point 5) is measured in
tests/render/test_label_placement.py; here the rendered video's random-weights mark is checked.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pandas as pd
import pytest

from lart_demo.app import build_ui, launch_kwargs
from lart_demo.config import Settings
from lart_demo.pipeline.request import AnalysisRequest, RunOutput
from lart_demo.pipeline.run import run_analysis
from lart_demo.progress import Cancelled, ProgressFn

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/bin/chromium").is_file(), reason="Debian chromium is not installed"),
]

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
END_S = 2.0  # seconds of jump.mp4 analysed (48 frames at 24 fps)
N_FRAMES = 48
RUN_TIMEOUT_MS = 600_000
FINISHED = ("Done ·", "Error:", "Cannot start:", "Cancelled.")
STATUS = "#lart-status [data-testid=markdown]"  # the text itself, without Gradio's progress overlay
VIEWS = [(1280, "light"), (1280, "dark"), (400, "light"), (400, "dark")]


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


def three_people(path: Path, n_frames: int = 171) -> Path:
    """Three people-sized boxes side by side in jump.mp4 (398 x 288), drifting a little (a boxes file)."""
    frames = {}
    for i in range(n_frames):
        dx = round(6 * np.sin(i / 10), 2)
        frames[str(i)] = [
            [8 + dx, 40, 128 + dx, 282, 0.95],
            [140 - dx, 44, 260 - dx, 284, 0.93],
            [272 + dx, 38, 392 + dx, 280, 0.9],
        ]
    path.write_text(json.dumps({"frames": frames}), encoding="utf-8")
    return path


def launch(settings: Settings, runner=None):
    demo = build_ui(settings, runner=runner)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(settings))
    return demo


@pytest.fixture(scope="module")
def server(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RecordingRunner]]:
    tmp = tmp_path_factory.mktemp("browser_out")
    settings = Settings(
        weights_dir=tiny_weights, output_dir=tmp / "out", device="cpu", boxes_file=three_people(tmp / "boxes.json")
    )
    runner = RecordingRunner()
    demo = launch(settings, runner)
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


class Page:
    """A page of the app at one width and colour scheme, collecting JavaScript errors."""

    def __init__(self, browser, url: str, width: int, scheme: str) -> None:
        self.width, self.scheme = width, scheme
        self.context = browser.new_context(
            viewport={"width": width, "height": 900}, color_scheme=scheme, accept_downloads=True
        )
        self.pg = self.context.new_page()
        self.errors: list[str] = []
        self.pg.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.pg.goto(f"{url}?__theme={scheme}", wait_until="domcontentloaded")
        self.pg.wait_for_selector("#lart-run", timeout=60_000)

    @property
    def tag(self) -> str:
        return f"{self.width}_{self.scheme}"

    def shot(self, name: str, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"browser_{name}_{self.tag}.png"
        self.pg.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"JavaScript errors in the page: {self.errors}"


@pytest.fixture()
def page(browser, server):
    """A plain page at 1400 px (for other browser test modules that share this module's server)."""
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


def shot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def status(pg) -> str:
    return pg.inner_text(STATUS)


def upload(pg, path: Path) -> None:
    clear = pg.locator("#lart-file button[aria-label=Clear]")
    if clear.count():
        clear.first.click()
    pg.locator("#lart-file input[type=file]").set_input_files(str(path))
    pg.wait_for_selector(f'#lart-file td.filename[aria-label="{path.name}"]', timeout=30_000)


def set_number(pg, elem_id: str, value: float | str) -> None:
    """Type into a number box and check that the value stuck (a lazily mounted box may reset it once)."""
    box = pg.locator(f"#{elem_id} input[type=number]").first
    box.wait_for(state="visible", timeout=30_000)
    for _ in range(3):
        box.fill(str(value))
        box.press("Tab")
        pg.wait_for_timeout(300)
        if float(box.input_value() or "nan") == float(value):
            return
    raise AssertionError(f"#{elem_id} did not take the value {value} (shows {box.input_value()})")


def wait_finished(pg, before: str, timeout_ms: int = RUN_TIMEOUT_MS) -> str:
    pg.wait_for_function(
        """([before, finished]) => {
             const s = document.querySelector('#lart-status [data-testid=markdown]').innerText;
             return s !== before && finished.some(f => s.includes(f));
           }""",
        arg=[before, list(FINISHED)],
        timeout=timeout_ms,
        polling=200,
    )
    return status(pg)


def run_and_wait(pg) -> str:
    before = status(pg)
    pg.click("#lart-run")
    return wait_finished(pg, before)


def in_viewport(pg, selector: str) -> bool:
    return pg.evaluate(
        """sel => { const r = document.querySelector(sel).getBoundingClientRect();
                    return r.width > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }""",
        selector,
    )


def player(pg) -> dict:
    return pg.evaluate(
        """() => {
          const root = document.querySelector('#lart-player .lart-player');
          const v = root.querySelector('video.lp-video');
          const cursor = root.querySelector('.lp-cursor');
          const plot = root.querySelector('.lp-plot').getBoundingClientRect();
          const c = cursor.getBoundingClientRect();
          return {
            payload: JSON.parse(root.dataset.payload), currentTime: v.currentTime, paused: v.paused,
            duration: v.duration, frame: Number(root.dataset.frame), barsFrame: Number(root.dataset.barsFrame),
            scrub: Number(root.querySelector('input.lp-scrubber').value),
            timeLabel: root.querySelector('.lp-scrub-time').innerText,
            cursorFraction: (c.left + c.width / 2 - plot.left) / plot.width,
            view: root.dataset.view,
          };
        }"""
    )


def clock_agrees(pg, fps: float = 24.0) -> dict:
    """Every part that shows the time shows the video's current time; returns the player state."""
    pg.wait_for_function("() => !document.querySelector('#lart-player video.lp-video').seeking")
    pg.wait_for_timeout(100)
    st = player(pg)
    frame = min(int(st["currentTime"] * fps + 1e-6), N_FRAMES - 1)
    assert st["frame"] == frame and st["scrub"] == frame and st["barsFrame"] == frame, st
    assert f"frame {frame + 1} of {N_FRAMES}" in st["timeLabel"], st["timeLabel"]
    assert (
        re.match(rf"{st['currentTime']:.2f} s", st["timeLabel"])
        or abs(float(st["timeLabel"].split(" s")[0]) - st["currentTime"]) < 0.02
    )
    assert st["cursorFraction"] == pytest.approx(st["currentTime"] / (N_FRAMES / fps), abs=0.02)
    return st


# ------------------------------------------------------------------------------------------ the first run


@pytest.fixture(scope="module")
def first_run(browser, server, examples_dir: Path) -> dict:
    """The one real analysis: watched at 1280 px with the page scrolled down, recording every status line."""
    url, _ = server
    page = Page(browser, url, 1280, "light")
    pg = page.pg
    # point 8: nothing but the inputs before a run
    assert not pg.locator("#lart-find").is_visible()
    assert not pg.locator("#lart-player").is_visible()
    page.shot("before_run")
    upload(pg, examples_dir / "jump.mp4")
    set_number(pg, "lart-end", END_S)
    pg.click("#lart-run")
    pg.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    seen: list[str] = []
    bar_visible: list[bool] = []
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        text = status(pg)
        if not seen or text != seen[-1]:
            seen.append(text)
            bar_visible.append(all(in_viewport(pg, s) for s in ("#lart-run", "#lart-cancel", "#lart-status")))
            if len(seen) == 4:
                page.shot("progress", full_page=False)
        if any(f in text for f in FINISHED):
            break
        time.sleep(0.2)
    page.shot("first_run_done")
    page.close()
    return {"lines": seen, "bar_visible": bar_visible}


def test_3_progress_stays_in_view_with_steps_overall_estimate_and_device(first_run) -> None:
    lines = first_run["lines"]
    assert "Done ·" in lines[-1], lines[-3:]
    assert f"over {N_FRAMES} frames" in lines[-1]
    steps = [re.search(r"Step (\d) of (\d)", s) for s in lines]
    numbered = [(int(m[1]), int(m[2])) for m in steps if m]
    assert numbered and all(n == 6 for _, n in numbered), lines
    # steps only move forward; on a fast machine steps 1-2 (reading, loading models) may finish between two polls
    assert [k for k, _ in numbered] == sorted(k for k, _ in numbered) and numbered[0][0] <= 3, numbered
    assert any(re.search(rf"Step 3 of 6 · Finding and tracking people.*: \d+/{N_FRAMES}", s) for s in lines), lines
    assert any("left overall" in s for s in lines), lines
    assert all("on CPU" in s for s in lines if "Step" in s), lines
    # the page was scrolled to the bottom the whole time: Analyze, Cancel and the progress stayed in view
    assert all(first_run["bar_visible"]), list(zip(lines, first_run["bar_visible"], strict=True))


# ------------------------------------------------------------------------------------------ one page per view


@pytest.fixture(scope="module", params=VIEWS, ids=[f"{w}px-{s}" for w, s in VIEWS])
def results(request, browser, server, first_run, examples_dir: Path) -> Iterator[Page]:
    """A page showing the (cached) run, at one width and colour scheme."""
    width, scheme = request.param
    url, _ = server
    page = Page(browser, url, width, scheme)
    upload(page.pg, examples_dir / "jump.mp4")
    set_number(page.pg, "lart-end", END_S)
    final = run_and_wait(page.pg)
    assert "Done ·" in final, final  # usually from the cache (the first run analysed the same clip)
    page.pg.wait_for_selector("#lart-player .lart-player", timeout=30_000)
    page.pg.wait_for_function("() => document.querySelector('#lart-player video.lp-video').readyState >= 2")
    yield page
    page.close()


def test_1_one_clock_video_scrubber_label_bars_and_cursor(results: Page) -> None:
    pg = results.pg
    video = "document.querySelector('#lart-player video.lp-video')"
    # playback: everything follows the video
    pg.evaluate(f"() => {video}.play()")
    pg.wait_for_function(f"() => {video}.currentTime > 0.5", timeout=20_000)
    pg.evaluate(f"() => {video}.pause()")
    clock_agrees(pg)
    # a timeline click sets the time
    plot = pg.locator("#lart-player .lp-plot")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    pg.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    st = clock_agrees(pg)
    assert st["currentTime"] == pytest.approx(0.25 * END_S, abs=0.05)
    # a drag follows the pointer
    pg.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + 20)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 20, steps=5)
    pg.mouse.up()
    st = clock_agrees(pg)
    assert st["currentTime"] == pytest.approx(0.6 * END_S, abs=0.05)
    # the scrubber sets it: other bars, same clock
    bars_before = pg.inner_html("#lart-player .lp-bars")
    scrubber = pg.locator("#lart-player input.lp-scrubber")
    scrubber.focus()
    pg.keyboard.press("End")
    st = clock_agrees(pg)
    assert st["frame"] == N_FRAMES - 1
    assert pg.inner_html("#lart-player .lp-bars") != bars_before
    pg.keyboard.press("Home")
    assert clock_agrees(pg)["frame"] == 0
    # point 10: the timeline itself takes the keyboard (arrows step a frame, Home/End jump)
    pg.focus("#lart-player .lp-chart-wrap")
    pg.keyboard.press("ArrowRight")
    pg.keyboard.press("ArrowRight")
    assert clock_agrees(pg)["frame"] == 2
    pg.keyboard.press("ArrowLeft")
    assert clock_agrees(pg)["frame"] == 1
    pg.keyboard.press("Shift+ArrowRight")
    assert clock_agrees(pg)["frame"] == 25
    pg.keyboard.press("End")
    assert clock_agrees(pg)["frame"] == N_FRAMES - 1
    pg.keyboard.press("Home")
    assert clock_agrees(pg)["frame"] == 0
    assert pg.get_attribute("#lart-player .lp-chart-wrap", "role") == "slider"
    results.shot("clock")


def test_2_found_moments_are_chips_in_the_persons_colour(results: Page) -> None:
    pg = results.pg
    set_number(pg, "lart-seg-threshold", 0.05)
    pg.click("#lart-seg-search")
    pg.wait_for_selector("#lart-segments button.lp-seg", timeout=60_000)
    chips = pg.locator("#lart-segments button.lp-seg")
    assert chips.count() >= 2
    colors = {p["id"]: p["color"] for p in player(pg)["payload"]["people"]}
    look = pg.evaluate(
        """() => [...document.querySelectorAll('#lart-segments button.lp-seg')].map(b => {
             const s = getComputedStyle(b), r = b.getBoundingClientRect();
             return {tid: Number(b.dataset.tid), border: s.borderTopColor, cursor: s.cursor,
                     radius: parseFloat(s.borderTopLeftRadius), w: r.width, h: r.height, top: r.top,
                     display: s.display};
           })"""
    )
    for chip in look:
        hexed = colors[chip["tid"]].lstrip("#")
        rgb = tuple(int(hexed[i : i + 2], 16) for i in (0, 2, 4))
        assert chip["border"] == f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})", chip
        assert chip["cursor"] == "pointer" and chip["radius"] >= 8 and chip["display"] in ("flex", "inline-flex")
        assert chip["h"] >= 24 and chip["w"] < results.width  # a chip, not a run-on line
    if results.width > 1000:
        assert len({c["top"] for c in look}) < len(look)  # chips flow side by side where there is room
    target = chips.nth(chips.count() - 1)
    t = float(target.get_attribute("data-t"))
    target.click()
    st = clock_agrees(pg)
    assert st["currentTime"] == pytest.approx(t, abs=0.05)
    assert "current" in (target.get_attribute("class") or "")  # the chosen moment is highlighted
    results.shot("chips")


def test_4_narrow_screens_keep_the_video_full_width_and_the_bars_visible(results: Page) -> None:
    pg = results.pg
    sizes = pg.evaluate(
        """() => {
          const v = document.querySelector('#lart-player video.lp-video').getBoundingClientRect();
          const col = document.querySelector('#lart-results').getBoundingClientRect();
          const fills = [...document.querySelectorAll('#lart-player .lp-bars > .lp-bar-person > .lp-bar .lp-bar-track')]
            .map(t => t.getBoundingClientRect().width);
          return {video: v.width, column: col.width, fills, page: document.documentElement.scrollWidth,
                  viewport: window.innerWidth};
        }"""
    )
    assert sizes["page"] <= sizes["viewport"] + 1, sizes  # nothing sticks out sideways
    assert sizes["video"] >= 0.95 * sizes["column"], sizes
    if results.width == 400:
        assert sizes["video"] >= 0.8 * 400, sizes
    assert sizes["fills"] and min(sizes["fills"]) >= 40, sizes  # every bar has room to show its value
    results.shot("layout")


def test_6_page_text_links_and_citation(results: Page) -> None:
    pg = results.pg
    links = pg.eval_on_selector_all("#lart-links a", "els => els.map(a => a.href)")
    assert "https://arxiv.org/abs/2304.01199" in links and "https://github.com/brjathu/LART" in links
    pg.locator("#lart-cite").get_by_text("Cite LART").click()
    pg.wait_for_selector("#lart-cite code", timeout=10_000)
    assert "@inproceedings{rajasegaran2023benefits" in pg.inner_text("#lart-cite")


def test_7_timeline_axis_colours_legend_all_people_and_heatmap(results: Page) -> None:
    pg = results.pg
    payload = player(pg)["payload"]
    people = payload["people"]
    assert len(people) == 3
    # a time axis in seconds
    ticks = pg.eval_on_selector_all("#lart-player .lp-xaxis span", "els => els.map(e => e.innerText)")
    assert ticks[0] in ("0", "0.0") and len(ticks) >= 3 and all(re.fullmatch(r"\d+(\.\d)?", t) for t in ticks)
    assert pg.inner_text("#lart-player .lp-xaxis .lp-unit") == "time (s)"
    # one colour per action, whoever it belongs to
    seen: dict[str, str] = {}
    for person in people:
        pg.click(f'#lart-player button.lp-person[data-tid="{person["id"]}"]')
        strokes = pg.eval_on_selector_all(
            "#lart-player svg.lp-chart polyline.lp-trace",
            "els => els.map(e => [e.dataset.action, e.getAttribute('stroke')])",
        )
        assert [a for a, _ in strokes] == person["traces"]
        for action, stroke in strokes:
            assert seen.setdefault(action, stroke) == stroke, (action, seen[action], stroke)
            assert stroke == payload["colors"][action]
    assert len(seen) > len(people[0]["traces"])  # different people do show different actions
    # the legend hides and shows lines
    first = people[-1]["traces"][0]
    item = pg.locator(f'#lart-player button.lp-legend-item[data-key="{first}"]')
    item.click()
    assert pg.locator(f'#lart-player polyline.lp-trace[data-action="{first}"]').is_hidden()
    assert item.get_attribute("aria-pressed") == "false"
    pg.locator(f'#lart-player button.lp-legend-item[data-key="{first}"]').click()
    assert pg.locator(f'#lart-player polyline.lp-trace[data-action="{first}"]').is_visible()
    results.shot("timeline_person")
    # everyone for one action: a line per person in their colour
    pg.click('#lart-player button.lp-view[data-view="action"]')
    pg.select_option("#lart-player select.lp-action-pick", first)
    lines = pg.eval_on_selector_all(
        "#lart-player svg.lp-chart polyline.lp-trace",
        "els => els.map(e => [Number(e.dataset.tid), e.getAttribute('stroke')])",
    )
    assert lines == [(p["id"], p["color"]) for p in people] or lines == [[p["id"], p["color"]] for p in people]
    results.shot("timeline_action")
    # all 60 actions of one person
    pg.click('#lart-player button.lp-view[data-view="heat"]')
    heat = pg.evaluate(
        """() => { const c = document.querySelector('#lart-player canvas.lp-heat');
                   const names = document.querySelectorAll('#lart-player .lp-ynames span').length;
                   return {rows: c.height, cols: c.width, names, h: c.getBoundingClientRect().height}; }"""
    )
    assert heat["rows"] == 60 and heat["names"] == 60 and heat["cols"] == N_FRAMES and heat["h"] > 300
    box = pg.locator("#lart-player .lp-plot").bounding_box()
    pg.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 5)
    assert re.search(r"\d+\.\d\d s · frame \d+\n.+: \d+%", pg.inner_text("#lart-player .lp-tooltip"))
    results.shot("timeline_heatmap")
    pg.click('#lart-player button.lp-view[data-view="person"]')


def test_8_no_clutter_one_banner_top3_bars_and_plain_downloads(results: Page, server) -> None:
    pg = results.pg
    body = pg.inner_text("body").lower()
    assert body.count("random weights") == 1, "one random-weights banner, nothing else on the page repeats it"
    assert pg.locator("#lart-random-banner").is_visible()
    # the rendered video itself carries the mark: a red strip in its top-left corner
    red = pg.evaluate(
        """() => { const v = document.querySelector('#lart-player video.lp-video');
                   const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
                   const g = c.getContext('2d'); g.drawImage(v, 0, 0);
                   const d = g.getImageData(0, 2, 60, 6).data; let n = 0;
                   for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 1] < 90 && d[i + 2] < 90) n++;
                   return n / (d.length / 4); }"""
    )
    assert red > 0.15, red  # the strip, partly covered by its white-haloed text
    # three bars per person in view, the rest folded
    shown = pg.evaluate(
        """() => [...document.querySelectorAll('#lart-player .lp-bars > .lp-bar-person')].map(p =>
             [p.querySelectorAll(':scope > .lp-bar').length, p.querySelectorAll('details.lp-more .lp-bar').length,
              p.querySelector('details.lp-more') ? p.querySelector('details.lp-more').open : null])"""
    )
    assert len(shown) == 3 and all(top == 3 and more >= 1 and is_open is False for top, more, is_open in shown), shown
    # downloads: plain links, no remove buttons, and one zip with everything
    names = pg.eval_on_selector_all(
        "#lart-player .lp-downloads > a", "els => els.filter(a => a.offsetWidth).map(a => a.textContent)"
    )
    assert names == ["render.mp4", "results.json", "actions.csv", "tracks.pkl", "lart_results.zip"], names
    folded = pg.eval_on_selector_all("#lart-player details.lp-more-files a", "els => els.map(a => a.textContent)")
    assert "actions.vtt" in folded and not pg.locator("#lart-player details.lp-more-files").get_attribute("open")
    assert pg.locator("#lart-player .lp-downloads button").count() == 0
    assert pg.locator("[aria-label=Remove], [aria-label='Remove file']").count() == 0
    with pg.expect_download() as info:
        pg.click("#lart-player .lp-downloads a.lp-zip")
    with zipfile.ZipFile(info.value.path()) as zf:
        assert {"render.mp4", "results.json", "actions.csv", "tracks.pkl"} <= set(zf.namelist())
    results.shot("results")


def test_9_downloaded_files_open_with_default_options(results: Page) -> None:
    pg = results.pg
    href = pg.get_attribute("#lart-player .lp-downloads a[download='actions.csv']", "href")
    response = pg.request.get(urljoin(pg.url, href))
    assert response.ok
    table = pd.read_csv(io.BytesIO(response.body()))  # no options: the first line is the header
    assert list(table.columns[:5]) == ["frame", "time_s", "track_id", "has_detection", "random_weights"]
    assert (table["random_weights"] == 1).all() and len(table) == 3 * N_FRAMES


def test_10_preview_picks_start_and_end(results: Page, examples_dir: Path) -> None:
    pg = results.pg
    preview = "document.querySelector('#lart-preview video')"
    pg.wait_for_function(f"() => {preview} && {preview}.readyState >= 1", timeout=30_000)
    assert pg.locator("#lart-set-start").is_visible() and pg.locator("#lart-set-end").is_visible()
    pg.evaluate(f"() => {{ {preview}.currentTime = 0.5; }}")
    pg.wait_for_function(f"() => !{preview}.seeking")
    pg.click("#lart-set-start")
    pg.wait_for_function("() => document.querySelector('#lart-start input').value === '0.5'", timeout=10_000)
    pg.evaluate(f"() => {{ {preview}.currentTime = 1.25; }}")
    pg.wait_for_function(f"() => !{preview}.seeking")
    pg.click("#lart-set-end")
    pg.wait_for_function("() => document.querySelector('#lart-end input').value === '1.25'", timeout=10_000)
    # the offline example is there (no network in tests): the generated clip
    assert "Generated example" in pg.inner_text("#lart-examples")
    results.shot("preview")
    set_number(pg, "lart-start", 0)
    set_number(pg, "lart-end", END_S)


def test_readme_screenshot(browser, server, first_run, examples_dir: Path) -> None:
    """The README's picture: the results at 1280 px in light mode, from the video down to the timeline."""
    import cv2

    url, _ = server
    page = Page(browser, url, 1280, "light")
    pg = page.pg
    upload(pg, examples_dir / "jump.mp4")
    set_number(pg, "lart-end", END_S)
    assert "Done ·" in run_and_wait(pg)
    pg.wait_for_function("() => document.querySelector('#lart-player video.lp-video').readyState >= 2")
    set_number(pg, "lart-seg-threshold", 0.05)
    pg.click("#lart-seg-search")
    pg.wait_for_selector("#lart-segments button.lp-seg", timeout=60_000)
    pg.locator("#lart-segments button.lp-seg").nth(1).click()
    clock_agrees(pg)
    ARTIFACTS.mkdir(exist_ok=True)
    full = ARTIFACTS / "browser_readme_full.png"
    pg.add_style_tag(content="#lart-runbar { position: static !important; }")  # not over the picture
    if pg.locator("#lart-player button.lp-cc").count():
        pg.click("#lart-player button.lp-cc")  # captions off: the labels in the video read better
    results_box = pg.locator("#lart-results").bounding_box()
    find_box = pg.locator("#lart-find").bounding_box()
    pg.locator("#lart-results").screenshot(path=str(full))
    image = cv2.imread(str(full))
    image = image[: int(find_box["y"] + find_box["height"] - results_box["y"]) + 8]  # the player and its moments
    scale = min(1.0, 900 / image.shape[1])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    path = ARTIFACTS / "browser_readme.png"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    page.close()
    shutil.copyfile(path, REPO_ROOT / "docs" / "screenshot_app.png")


# ------------------------------------------------------------------------------------------ other pages


@pytest.mark.parametrize(("width", "scheme"), VIEWS, ids=[f"{w}px-{s}" for w, s in VIEWS])
def test_6_missing_weights_panel_is_one_line_with_details_folded(browser, tmp_path: Path, width, scheme) -> None:
    demo = launch(Settings(weights_dir=tmp_path / "no_weights", output_dir=tmp_path / "out", device="cpu"))
    try:
        page = Page(browser, demo.local_url, width, scheme)
        pg = page.pg
        line = pg.inner_text("#lart-weights-line").strip()
        assert "model file(s) are missing" in line and "weights download" in line and "\n" not in line
        assert not pg.locator("#lart-weights-details").is_visible()  # the list is folded
        assert pg.locator("#lart-weights-line").bounding_box()["height"] < (130 if width == 400 else 60)
        pg.locator("#lart-weights-missing").get_by_text("Details").click()
        pg.wait_for_selector("#lart-weights-details", state="visible")
        assert pg.inner_text("#lart-weights-details").count("\n") >= 3
        page.shot("no_weights")
        page.close()
    finally:
        demo.close()


def test_bad_input_shows_a_message_and_the_page_stays_usable(browser, server, tmp_path: Path) -> None:
    url, _ = server
    page = Page(browser, url, 400, "light")
    bad = tmp_path / "notes.txt"
    bad.write_text("these are my notes, not a video\n")
    upload(page.pg, bad)
    final = run_and_wait(page.pg)
    assert "is not a supported video type (.txt)" in final
    assert "Traceback" not in page.pg.inner_text("body")
    assert not page.pg.locator("#lart-find").is_visible()
    page.shot("bad_input")
    page.close()


def test_cancel_stops_the_run_and_the_bar_stays_in_view(browser, server, examples_dir: Path) -> None:
    url, runner = server
    page = Page(browser, url, 400, "dark")
    pg = page.pg
    upload(pg, examples_dir / "jump.mp4")
    set_number(pg, "lart-end", 5)  # a run long enough to cancel in the middle
    pg.click("#lart-run")
    pg.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    pg.wait_for_function(
        "() => /Step 3 of 6 · Finding and tracking/.test(document.querySelector('#lart-status').innerText)",
        timeout=120_000,
    )
    assert all(in_viewport(pg, s) for s in ("#lart-run", "#lart-cancel", "#lart-status"))
    page.shot("running", full_page=False)
    pg.click("#lart-cancel")
    pg.wait_for_function(
        "() => document.querySelector('#lart-status [data-testid=markdown]').innerText.includes('Cancelled.')"
    )
    assert runner.wait_for("cancelled", timeout=60), runner.ended  # the worker stopped: the GPU is free
    time.sleep(1.0)  # nothing from the cancelled run overwrites the page afterwards
    assert "Cancelled." in status(pg)
    page.shot("cancelled")
    page.close()
