"""The Gradio app: inputs and options on the left, the synced player + timeline + downloads on the right.

Callbacks here only translate between widgets and `lart_demo.pipeline`; everything they compute is
tested without a browser. The analysis runs in a worker thread so that cancelling the event (or
closing the tab) sets a flag the pipeline checks between batches, which frees the GPU promptly.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from .config import Settings
from .errors import InputError, LartDemoError
from .pipeline import AnalysisRequest, Runner, RunOutput, run_analysis
from .timeline import find_segments, player_payload
from .ui_player import empty_player_html, player_css, player_html, player_js, segments_html

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv")
STYLES = ["mesh+labels", "mesh", "side-by-side"]

SEGMENTS_JS = """
element.addEventListener('click', ev => {
  const b = ev.target.closest('button.lp-seg');
  if (!b) return;
  const v = document.querySelector('#lart-player video.lp-video');
  if (v) { v.currentTime = Number(b.dataset.t) + 1e-3; v.scrollIntoView({block: 'nearest'}); }
});
"""


@dataclass
class _Event:
    kind: str  # "progress" | "done" | "error"
    payload: Any


class _Eta:
    """Per-stage rate -> remaining seconds; stages restart the clock."""

    def __init__(self) -> None:
        self.stage = ""
        self.t0 = time.monotonic()

    def describe(self, stage: str, done: int, total: int | None) -> str:
        if stage != self.stage:
            self.stage, self.t0 = stage, time.monotonic()
        if not total:
            return f"{stage}…"
        text = f"{stage}: {done}/{total}"
        elapsed = time.monotonic() - self.t0
        if done > 0 and done < total and elapsed > 1.0:
            text += f" · about {elapsed / done * (total - done):.0f} s left in this step"
        return text


def _status(lines: list[str]) -> str:
    return "\n\n".join(lines)


def _limits_text(settings: Settings) -> str:
    return (
        f"Limits: uploads up to {settings.max_upload_mb:.0f} MB; "
        f"the first {settings.max_duration_s:.0f} s are analysed "
        f"(set start/end to pick another part); frames larger than {settings.max_side} px are downscaled. "
        "Anything cut is reported with the results."
    )


def request_from_widgets(
    settings: Settings,
    file: str | None,
    url: str | None,
    start: float | None,
    end: float | None,
    max_people: float | None,
    labels_per_person: float | None,
    min_prob: float | None,
    style: str | None,
    face_blur: bool | None,
    max_duration: float | None,
) -> AnalysisRequest:
    """Validate the widgets' values into a request; bad combinations become InputError messages."""
    url = (url or "").strip()
    if file and url:
        raise InputError("Give either a video file or a YouTube link, not both (clear one of them).")
    if not file and not url:
        raise InputError("Upload a video or paste a YouTube link first.")
    if start is not None and start < 0:
        raise InputError("Start must be 0 s or later.")
    if start is not None and end is not None and end <= start:
        raise InputError("End must be after start.")
    if style is not None and style not in STYLES:
        raise InputError(f"Unknown render style '{style}'.")
    run_settings = settings.with_overrides(
        max_people=int(max_people) if max_people else None,
        labels_per_person=int(labels_per_person) if labels_per_person is not None else None,
        min_label_prob=float(min_prob) if min_prob is not None else None,
        render_style=style,
        face_blur=bool(face_blur) if face_blur is not None else None,
        max_duration_s=float(max_duration) if max_duration else None,
    )
    return AnalysisRequest(source=str(file or url), settings=run_settings, start_s=start or None, end_s=end or None)


def _run_in_thread(runner: Runner, request: AnalysisRequest) -> tuple[queue.Queue[_Event], threading.Event]:
    events: queue.Queue[_Event] = queue.Queue()
    cancel = threading.Event()

    def progress(stage: str, done: int, total: int | None) -> None:
        events.put(_Event("progress", (stage, done, total)))

    def work() -> None:
        try:
            events.put(_Event("done", runner(request, progress, cancel)))
        except LartDemoError as exc:
            events.put(_Event("error", str(exc)))
        except Exception as exc:  # the user gets one line; the log keeps the traceback
            log.exception("analysis failed")
            events.put(
                _Event("error", f"The analysis failed unexpectedly ({type(exc).__name__}). Details are in the log.")
            )

    threading.Thread(target=work, name="lart-analysis", daemon=True).start()
    return events, cancel


def _file_url(path: Path) -> str:
    return f"/gradio_api/file={path.resolve()}"


def results_outputs(out: RunOutput) -> tuple[str, str, list[str], Any, Any, str]:
    """Widget values for a finished run: status, player, downloads, action choices, person choices, run dir."""
    payload = player_payload(out.timelines, out.action_names, out.fps, out.n_frames)
    notes = list(out.notes)
    player = (
        player_html(_file_url(out.video), payload, out.random_weights, notes)
        if out.video
        else empty_player_html("No video was rendered.")
    )
    n = len(out.timelines)
    status = [
        f"**Done** · {n} {'person' if n == 1 else 'people'} tracked over {out.n_frames} frames ({out.fps:g} fps)."
    ]
    if out.cached:
        status.append("Same clip and options as an earlier run: results returned from the cache.")
    status += [f"- {note}" for note in notes]
    if out.random_weights:
        status.insert(0, "⚠️ **Random weights: predictions are meaningless.**")
    downloads = [str(p) for p in out.downloads() if p.exists()]
    used = sorted({a for t in out.timelines for a in payload_actions(payload, t.track_id)})
    actions = gr.update(choices=used or list(out.action_names), value=(used or list(out.action_names))[0])
    persons = gr.update(choices=["everyone"] + [f"#{t.track_id}" for t in out.timelines], value="everyone")
    return _status(status), player, downloads, actions, persons, str(out.out_dir)


def payload_actions(payload: dict, track_id: int) -> list[str]:
    for person in payload["people"]:
        if person["id"] == track_id:
            return list(person["traces"])
    return []


def build_ui(settings: Settings, runner: Runner = run_analysis) -> gr.Blocks:
    """The whole app. `runner` is the analysis entry point (tests may pass a wrapper)."""
    state_runs: dict[str, RunOutput] = {}

    def analyze(
        file,
        url,
        start,
        end,
        max_people,
        labels_per_person,
        min_prob,
        style,
        face_blur,
        max_duration,
        progress=gr.Progress(),  # noqa: B008 - Gradio injects it
    ) -> Iterator[tuple]:
        keep = (gr.update(), gr.update(), gr.update(), gr.update(), gr.update(), gr.update())
        try:
            request = request_from_widgets(
                settings, file, url, start, end, max_people, labels_per_person, min_prob, style, face_blur, max_duration
            )
        except LartDemoError as exc:
            yield (f"**Cannot start:** {exc}", empty_player_html(), None, *keep[3:])
            return
        events, cancel = _run_in_thread(runner, request)
        eta = _Eta()
        yield ("Starting…", empty_player_html("Working… progress is shown above."), None, *keep[3:])
        try:
            while True:
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if event.kind == "progress":
                    stage, done, total = event.payload
                    progress((done, total) if total else None, desc=eta.describe(stage, done, total))
                    continue
                if event.kind == "error":
                    yield (f"**Error:** {event.payload}", empty_player_html(), None, *keep[3:])
                    return
                out: RunOutput = event.payload
                state_runs[str(out.out_dir)] = out
                yield results_outputs(out)
                return
        finally:
            cancel.set()  # no-op after a normal finish; stops the worker when the user cancels

    def search(run_dir: str, action: str, person: str, threshold: float) -> str:
        out = state_runs.get(run_dir or "")
        if out is None:
            return segments_html([], "this clip (run an analysis first)")
        track = None if person in (None, "", "everyone") else int(str(person).lstrip("#"))
        try:
            segs = find_segments(out.timelines, out.action_names, action, out.fps, float(threshold), track_id=track)
        except LartDemoError as exc:
            return f'<div class="lart-segments lp-note">{exc}</div>'
        who = "anyone" if track is None else f"#{track}"
        return segments_html(segs, f"'{action}' by {who} at ≥ {threshold:.0%}")

    with gr.Blocks(title="LART demo: what is everyone doing?") as demo:
        gr.Markdown(
            "# What is everyone doing?\n"
            "Upload a clip or paste a YouTube link. Every person is tracked in 3D (PHALP + HMR2.0) and their actions "
            "are recognised by LART (60 AVA actions). You get a video with each person's body mesh and top actions, "
            "and a timeline per person you can scrub."
        )
        gr.Markdown(_limits_text(settings), elem_id="lart-limits")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                with gr.Tab("Upload"):
                    file_in = gr.File(
                        label="Video (mp4, mov, m4v, webm, avi, mkv)", type="filepath", elem_id="lart-file"
                    )
                with gr.Tab("YouTube"):
                    url_in = gr.Textbox(
                        label="YouTube link", placeholder="https://www.youtube.com/watch?v=…", elem_id="lart-url"
                    )
                with gr.Row():
                    start_in = gr.Number(label="Start (s)", value=None, minimum=0, elem_id="lart-start")
                    end_in = gr.Number(label="End (s)", value=None, minimum=0, elem_id="lart-end")
                with gr.Accordion("Options", open=False):
                    max_people_in = gr.Slider(1, 20, value=settings.max_people, step=1, label="Max people")
                    labels_in = gr.Slider(0, 5, value=settings.labels_per_person, step=1, label="Labels per person")
                    min_prob_in = gr.Slider(
                        0, 1, value=settings.min_label_prob, step=0.05, label="Min label probability"
                    )
                    style_in = gr.Radio(STYLES, value=settings.render_style, label="Render style")
                    blur_in = gr.Checkbox(value=settings.face_blur, label="Blur faces")
                    max_dur_in = gr.Number(value=settings.max_duration_s, label="Max duration (s)", minimum=1)
                with gr.Row():
                    run_btn = gr.Button("Analyze", variant="primary", elem_id="lart-run")
                    cancel_btn = gr.Button("Cancel", elem_id="lart-cancel")
            with gr.Column(scale=2, min_width=480):
                status = gr.Markdown("", elem_id="lart-status")
                player = gr.HTML(
                    empty_player_html(),
                    elem_id="lart-player",
                    js_on_load=player_js(),
                    css_template=player_css(),
                    apply_default_css=False,
                )
                with gr.Accordion("Find moments", open=True):
                    with gr.Row():
                        action_in = gr.Dropdown(choices=[], label="Action", elem_id="lart-seg-action")
                        person_in = gr.Dropdown(
                            choices=["everyone"], value="everyone", label="Person", elem_id="lart-seg-person"
                        )
                        threshold_in = gr.Slider(0.05, 0.95, value=0.5, step=0.05, label="Threshold")
                    search_btn = gr.Button("Search", elem_id="lart-seg-search")
                    segments = gr.HTML("", elem_id="lart-segments", js_on_load=SEGMENTS_JS, apply_default_css=False)
                downloads = gr.File(
                    label="Downloads", file_count="multiple", interactive=False, elem_id="lart-downloads"
                )
                run_dir = gr.Textbox(visible=False)

        inputs = [
            file_in,
            url_in,
            start_in,
            end_in,
            max_people_in,
            labels_in,
            min_prob_in,
            style_in,
            blur_in,
            max_dur_in,
        ]
        run_event = run_btn.click(
            analyze,
            inputs=inputs,
            outputs=[status, player, downloads, action_in, person_in, run_dir],
            api_name="analyze",
            concurrency_id="gpu",
            concurrency_limit=1,
        )
        cancel_btn.click(lambda: "Cancelled.", outputs=[status], cancels=[run_event], queue=False)
        search_btn.click(
            search, inputs=[run_dir, action_in, person_in, threshold_in], outputs=[segments], api_name="segments"
        )
    demo.queue(max_size=16)
    return demo


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for `demo.launch`: upload limit and the folders the player may serve files from."""
    return {
        "max_file_size": f"{int(settings.max_upload_mb)}mb",
        "allowed_paths": [str(Path(settings.output_dir).resolve())],
    }
