"""The page's export views in a real browser: the captions track on and off, the 3D view following the
scrubber (with its GLB download), a highlight clip of an event, and every export among the downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_browser
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import CHROMIUM, END_S, set_number, shot, status, upload

# one server, browser and page per module, as the main browser test sets them up
server = test_browser.server
browser = test_browser.browser
page = test_browser.page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian chromium (/usr/bin/chromium) is not installed"),
]

# the file the Model3D component shows (its own download link points at it)
MODEL_URL_JS = "(document.querySelector('#lart-3d a[href$=\\'.glb\\']') || {href: ''}).href"
TRACK_JS = """() => {
  const v = document.querySelector('#lart-player video.lp-video');
  const t = v.textTracks[0];
  return t ? {mode: t.mode, cues: t.cues ? t.cues.length : -1,
              active: t.activeCues ? [...t.activeCues].map(c => c.text) : [],
              button: document.querySelector('#lart-player button.lp-cc').innerText} : null;
}"""


def test_captions_toggle_3d_view_follows_scrubber_and_highlight(page, examples_dir: Path) -> None:
    upload(page, examples_dir / "jump.mp4")
    set_number(page, "lart-end", END_S)
    page.click("#lart-run")
    page.wait_for_function(
        "() => /Done ·|Error:/.test(document.querySelector('#lart-status [data-testid=markdown]').innerText)",
        timeout=600_000,
        polling=250,
    )
    assert "Done ·" in status(page), status(page)

    # the 3D view shows frame 0 after the run (checked before anything moves the video: the scrubber drives it)
    try:
        page.wait_for_function(
            "() => document.querySelector('#lart-3d-caption').innerText.includes('frame 0:')", timeout=60_000
        )
    except PlaywrightTimeout:
        caption = page.inner_text("#lart-3d-caption")
        raise AssertionError(f"the 3D view never showed frame 0; its caption says {caption!r}") from None
    page.wait_for_function("() => " + MODEL_URL_JS + ".endsWith('/frame_000000.glb')", timeout=30_000)

    # every export is offered for download
    names = page.eval_on_selector_all("#lart-downloads a[download]", "els => els.map(a => a.getAttribute('download'))")
    for expected in ("actions.vtt", "actions.srt", "events.csv", "events.json", "ava_predictions.csv"):
        assert any(expected in n for n in names), (expected, names)
    assert any(n.endswith(".bvh") for n in names) and any(n.endswith("_smpl.npz") for n in names), names

    # captions: the browser parses actions.vtt into cues; the button switches the track on and off
    page.wait_for_function(
        "() => { const t = document.querySelector('#lart-player video.lp-video').textTracks[0];"
        " return t && t.cues && t.cues.length > 0; }",
        timeout=30_000,
    )
    state = page.evaluate(TRACK_JS)
    assert state["mode"] == "showing" and state["button"] == "Captions: on"
    page.evaluate("() => { const v = document.querySelector('#lart-player video.lp-video'); v.currentTime = 1.0; }")
    page.wait_for_function(
        "() => [...document.querySelector('#lart-player video.lp-video').textTracks[0].activeCues]"
        ".some(c => /^#\\d+: /.test(c.text))",
        timeout=10_000,
    )
    # the video is the page's clock: seeking it moved the scrubber, and the 3D view followed (1.0 s = frame 24)
    page.wait_for_function(
        "() => document.querySelector('#lart-3d-caption').innerText.includes('frame 24:')", timeout=60_000
    )
    page.click("#lart-player button.lp-cc")
    state = page.evaluate(TRACK_JS)
    assert state["mode"] == "hidden" and state["button"] == "Captions: off"
    shot(page, "browser_captions_off")
    page.click("#lart-player button.lp-cc")
    assert page.evaluate(TRACK_JS)["mode"] == "showing"

    scrubber = page.locator("#lart-player input.lp-scrubber")
    scrubber.scroll_into_view_if_needed()
    scrubber.focus()
    page.keyboard.press("End")
    page.wait_for_function(
        "() => document.querySelector('#lart-3d-caption').innerText.includes('frame 47:')", timeout=60_000
    )
    page.wait_for_function("() => " + MODEL_URL_JS + ".endsWith('/frame_000047.glb')", timeout=30_000)
    assert page.locator("#lart-3d-frame input[type=number]").input_value() == "47"
    page.locator("#lart-3d").scroll_into_view_if_needed()
    shot(page, "browser_3d_view")
    with page.expect_download() as download:
        page.click("#lart-3d-download")
    assert download.value.suggested_filename == "frame_000047.glb"
    glb = Path(download.value.path()).read_bytes()
    assert glb[:4] == b"glTF"

    # a highlight clip of the first event
    page.locator("#lart-highlight-panel").get_by_text("Highlight clip").first.click()
    page.click("#lart-highlight-make")
    page.wait_for_function(
        "() => document.querySelector('#lart-highlight-note').innerText.includes('Highlight')", timeout=60_000
    )
    note = page.inner_text("#lart-highlight-note")
    assert note.startswith("Highlight: #") or "Pick an event" in note, note
