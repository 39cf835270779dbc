"""HTML of the results player (our own <video> + timeline + scrubber) and of the segment list.

The browser side lives in assets/player.js and assets/player.css; this module only produces markup,
escaping everything that comes from data (track ids, action names, paths).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from lart_demo.notices import RANDOM_WEIGHTS_NOTICE
from lart_demo.pipeline.timeline import Segment

ASSETS = Path(__file__).parent / "assets"
# the segment list is its own gr.HTML: its clicks seek the player's video
SEGMENTS_JS = """
element.addEventListener('click', ev => {
  const b = ev.target.closest('button.lp-seg');
  if (!b) return;
  const v = document.querySelector('#lart-player video.lp-video');
  if (v) { v.currentTime = Number(b.dataset.t) + 1e-3; v.scrollIntoView({block: 'nearest'}); }
});
"""
RANDOM_WEIGHTS_WARNING = f"{RANDOM_WEIGHTS_NOTICE.capitalize()} (a test install, not the released models)."


@cache
def player_js() -> str:
    return (ASSETS / "player.js").read_text(encoding="utf-8")


@cache
def player_css() -> str:
    return (ASSETS / "player.css").read_text(encoding="utf-8")


def empty_player_html(
    message: str = "Results appear here: upload a clip or paste a YouTube link, then press Analyze.",
) -> str:
    return f'<div class="lart-empty lp-note">{html.escape(message)}</div>'


def player_html(
    video_url: str,
    payload: dict,
    random_weights: bool = False,
    notes: Sequence[str] = (),
    captions_url: str | None = None,
) -> str:
    """The results player. `payload` comes from `timeline.player_payload`; `captions_url` is actions.vtt."""
    banner = f'<div class="lp-banner warn">{html.escape(RANDOM_WEIGHTS_WARNING)}</div>' if random_weights else ""
    note_html = "".join(f'<div class="lp-note">{html.escape(n)}</div>' for n in notes)
    data = html.escape(json.dumps(payload, separators=(",", ":")), quote=True)
    track, captions_toggle = "", ""
    if captions_url:
        track = (
            f'<track kind="captions" label="Actions" srclang="en" src="{html.escape(captions_url, quote=True)}" '
            "default>"
        )
        captions_toggle = '<button type="button" class="lp-cc" aria-pressed="true">Captions: on</button>'
    return (
        f'<div class="lart-player" data-payload="{data}">'
        f"{banner}{note_html}"
        f'<video class="lp-video" src="{html.escape(video_url, quote=True)}" '
        f'controls playsinline preload="auto">{track}</video>'
        f"{captions_toggle}"
        '<div class="lp-people"></div>'
        '<div class="lp-legend"></div>'
        '<div class="lp-chart-wrap"><div class="lp-tooltip"></div></div>'
        '<div class="lp-note">Click or drag on the timeline to seek; hover for exact values.</div>'
        '<div class="lp-scrub">'
        '<div class="lp-scrub-row"><span>Frame</span>'
        '<input type="range" class="lp-scrubber" min="0" max="0" step="1" value="0" aria-label="frame scrubber">'
        '<span class="lp-scrub-time"></span></div>'
        '<canvas class="lp-frame"></canvas><div class="lp-bars"></div>'
        "</div></div>"
    )


def segments_html(segments: Sequence[Segment], query: str) -> str:
    if not segments:
        return f'<div class="lart-segments lp-note">No moments found for {html.escape(query)}.</div>'
    buttons = "".join(
        f'<button type="button" class="lp-seg" data-t="{s.start_s:.3f}" data-tid="{s.track_id}">'
        f"{html.escape(s.label())}</button>"
        for s in segments
    )
    note = f'<div class="lp-note">{len(segments)} moment(s); click one to jump there.</div>'
    return f'<div class="lart-segments">{note}{buttons}</div>'
