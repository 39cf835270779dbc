"""HTML of the results player (our own <video> + timeline + scrubber) and of the segment list.

The browser side lives in assets/player.js and assets/player.css; this module only produces markup,
escaping everything that comes from data (track ids, action names, paths).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lart_demo.pipeline.timeline import Segment

ASSETS = Path(__file__).parent / "assets"
# the segment list is its own gr.HTML: its clicks seek the player's video
SEGMENTS_JS = """
element.addEventListener('click', ev => {
  const b = ev.target.closest('button.lp-seg');
  if (!b) return;
  const v = document.querySelector('#lart-player video.lp-video');
  if (!v) return;
  v.pause();
  v.currentTime = Number(b.dataset.t) + 1e-3;
  v.scrollIntoView({block: 'nearest'});
});
"""


@cache
def player_js() -> str:
    return (ASSETS / "player.js").read_text(encoding="utf-8")


@cache
def player_css() -> str:
    return (ASSETS / "player.css").read_text(encoding="utf-8")


@cache
def page_css() -> str:
    """Page-wide rules (the sticky run bar, the chips, narrow screens): passed to `launch(css=...)`."""
    return (ASSETS / "page.css").read_text(encoding="utf-8")


def empty_player_html(message: str = "") -> str:
    """The player before any result: nothing, or one line (e.g. why a run gave no video)."""
    return f'<div class="lart-empty">{html.escape(message)}</div>'


MAIN_FILES = ("render.mp4", "results.json", "actions.csv", "tracks.pkl")


@dataclass(frozen=True)
class Download:
    url: str
    name: str
    title: str  # what the file is, shown on hover


def player_html(
    video_url: str,
    payload: dict,
    notes: Sequence[str] = (),
    downloads: Sequence[Download] = (),
    captions_url: str | None = None,
) -> str:
    """The results player. `payload` comes from `timeline.player_payload`; the last download is the zip;
    `captions_url` is actions.vtt (a text track the CC button switches)."""
    track, captions_toggle = "", ""
    if captions_url:
        track = (
            f'<track kind="captions" label="Actions" srclang="en" src="{html.escape(captions_url, quote=True)}" '
            "default>"
        )
        captions_toggle = '<button type="button" class="lp-cc" aria-pressed="true">Captions: on</button>'

    note_html = "".join(f'<div class="lp-note">{html.escape(n)}</div>' for n in notes)
    data = html.escape(json.dumps(payload, separators=(",", ":")), quote=True)

    def link(d: Download) -> str:
        kind = "lp-zip" if d.name.endswith(".zip") else "lp-file"
        return (
            f'<a href="{html.escape(d.url, quote=True)}" download="{html.escape(d.name, quote=True)}" '
            f'title="{html.escape(d.title, quote=True)}" class="{kind}">{html.escape(d.name)}</a>'
        )

    # the video, the tables, the tracks and the zip in sight; per-person and per-event exports folded
    shown = [d for d in downloads if d.name in MAIN_FILES or d.name.endswith(".zip")]
    folded = [d for d in downloads if d not in shown]
    links = "".join(link(d) for d in shown)
    if folded:
        links += (
            f'<details class="lp-more-files"><summary>{len(folded)} more files (animation, captions, events)'
            f"</summary>{''.join(link(d) for d in folded)}</details>"
        )
    return (
        f'<div class="lart-player" data-payload="{data}">'
        f"{note_html}"
        f'<video class="lp-video" src="{html.escape(video_url, quote=True)}" '
        f'controls playsinline preload="auto">{track}</video>'
        f"{captions_toggle}"
        '<div class="lp-scrub-row"><span>Frame</span>'
        '<input type="range" class="lp-scrubber" min="0" max="0" step="1" value="0" aria-label="frame">'
        '<span class="lp-scrub-time"></span></div>'
        '<div class="lp-bars"></div>'
        "<h4>Timeline</h4>"
        '<div class="lp-views" role="tablist" aria-label="timeline view">'
        '<button type="button" class="lp-view" role="tab" data-view="person" aria-selected="true">One person</button>'
        '<button type="button" class="lp-view" role="tab" data-view="action" aria-selected="false">'
        "One action, everyone</button>"
        '<button type="button" class="lp-view" role="tab" data-view="heat" aria-selected="false">'
        "All actions (heatmap)</button></div>"
        '<div class="lp-pickers"><div class="lp-people"></div>'
        '<label class="lp-action-label" hidden>Action <select class="lp-action-pick"></select></label></div>'
        '<div class="lp-chart-wrap" tabindex="0" role="slider" aria-valuemin="0" aria-valuemax="0" aria-valuenow="0" '
        'aria-label="timeline: arrow keys step one frame, shift+arrows one second, Home and End jump">'
        '<div class="lp-chart"><div class="lp-ylabels"></div>'
        '<div class="lp-plot"><div class="lp-cursor"></div></div></div>'
        '<div class="lp-xaxis"></div><div class="lp-tooltip"></div></div>'
        '<div class="lp-legend"></div>'
        '<div class="lp-note">Click or drag the timeline to seek, or focus it and use ←/→ (a frame), '
        "Shift+←/→ (a second), Home/End. Click a legend entry to hide or show its line.</div>"
        f'<div class="lp-downloads" id="lart-downloads"><span>Downloads:</span>{links}</div>'
        "</div>"
    )


def segments_html(segments: Sequence[Segment], query: str, colors: Mapping[int, str]) -> str:
    """Found moments as chips in each person's colour; a click seeks the player (SEGMENTS_JS)."""
    if not segments:
        return f'<div class="lart-segments lp-note">No moments found for {html.escape(query)}.</div>'
    chips = "".join(
        f'<button type="button" class="lp-seg" data-t="{s.start_s:.3f}" data-tid="{s.track_id}" '
        f'data-end="{s.end_s:.3f}" aria-pressed="false" '
        f'style="--seg-color:{html.escape(colors.get(s.track_id, "#888888"), quote=True)}">'
        f'<span class="lp-seg-dot"></span>{html.escape(s.label())}</button>'
        for s in segments
    )
    note = f'<div class="lp-note">{len(segments)} moment(s) of {html.escape(query)}; click one to jump there.</div>'
    return f'<div class="lart-segments">{note}<div class="lp-chips">{chips}</div></div>'
