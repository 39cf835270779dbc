"""What the page's events call: widget values in, widget values out.

Each handler only translates between widgets and `lart_demo.pipeline`; everything it computes is
tested without a browser. `Handlers` keeps the state one app shares between events: finished runs
(for segment search) and each browser session's cancel flag.
"""

from __future__ import annotations

import html
import os
import queue
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from lart_demo.app.player import Download, empty_player_html, player_html, segments_html
from lart_demo.app.runner import STATUS_EVERY_S, StageClock, Worker, device_label
from lart_demo.app.text import CANCELLED_TEXT, CANCELLING_TEXT, PREVIEW_HINT
from lart_demo.config import Settings
from lart_demo.errors import InputError, LartDemoError
from lart_demo.pipeline.run import AnalysisRequest, Runner, RunOutput
from lart_demo.pipeline.timeline import find_segments, player_payload

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv")
STYLES = ["mesh+labels", "mesh", "side-by-side"]


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
    # the browser sends 0 for an empty number box: 0 means "not set" for both ends of the window
    start = start or None
    end = end or None
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
    if max_duration is not None and max_duration <= 0:
        raise InputError("Max duration must be more than 0 s.")
    run_settings = settings.with_overrides(
        max_people=int(max_people) if max_people else None,
        labels_per_person=int(labels_per_person) if labels_per_person is not None else None,
        min_label_prob=float(min_prob) if min_prob is not None else None,
        render_style=style,
        face_blur=bool(face_blur) if face_blur is not None else None,
        max_duration_s=float(max_duration) if max_duration else None,
    )
    return AnalysisRequest(source=str(file or url), settings=run_settings, start_s=start, end_s=end)


def _session(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "")


def file_url(path: Path) -> str:
    return f"/gradio_api/file={path.resolve()}"


BUNDLE_NAME = "lart_results.zip"
FILE_TITLES = {
    "render.mp4": "the video with every person's mesh and top actions (H.264)",
    "results.json": "everything this run found, for scripts (schema in the README)",
    "actions.csv": "one row per person and frame with all action probabilities (pandas.read_csv)",
    "tracks.pkl": "PHALP-format tracks with LART's labels (joblib.load)",
    BUNDLE_NAME: "every file of this run in one zip",
}


def bundle(out_dir: Path) -> Path:
    """One zip of every file of the run folder (written once, next to them; the video is stored as is)."""
    path = out_dir / BUNDLE_NAME
    if path.is_file():
        return path
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != BUNDLE_NAME and ".tmp" not in p.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{BUNDLE_NAME}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for file in files:
                packed = file.suffix.lower() in {".mp4", ".png", ".jpg", ".zip"}  # already compressed
                zf.write(
                    file, file.relative_to(out_dir).as_posix(), zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED
                )
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def results_outputs(out: RunOutput) -> tuple[str, str, list[str], Any, Any, str]:
    """Widget values for a finished run: status, player, downloads, action choices, person choices, run dir."""
    payload = player_payload(out.timelines, out.action_names, out.fps, out.n_frames)
    notes = list(out.notes)
    files = [p for p in out.downloads() if p.exists()] + [bundle(out.out_dir)]
    links = [Download(file_url(p), p.name, FILE_TITLES.get(p.name, p.name)) for p in files]
    player = (
        player_html(file_url(out.video), payload, notes, links)
        if out.video
        else empty_player_html("No video was rendered.")
    )
    n = len(out.timelines)
    status = [
        f"**Done** · {n} {'person' if n == 1 else 'people'} tracked over {out.n_frames} frames ({out.fps:g} fps)."
    ]
    if out.cached:
        status.append("Same clip and options as an earlier run: results returned from the cache.")
    status += [f"- ℹ️ {note}" for note in notes]
    # the actions someone's timeline shows come first; every other action can be searched too
    used = sorted({a for person in payload["people"] for a in person["traces"]})
    choices = used + [a for a in dict.fromkeys(out.action_names) if a not in used]
    actions = gr.update(choices=choices, value=choices[0] if choices else None)
    persons = gr.update(choices=["everyone"] + [f"#{t.track_id}" for t in out.timelines], value="everyone")
    return "\n\n".join(status), player, [str(p) for p in files], actions, persons, str(out.out_dir)


def preview_html(file: str | None) -> str:
    """The uploaded clip in a player, so start and end can be picked while watching it."""
    if not file:
        return ""
    path = Path(file)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        return ""  # the run says what is wrong with the file
    return (
        f'<video class="lp-preview" src="{html.escape(file_url(path), quote=True)}" controls playsinline '
        'preload="metadata"></video>'
        f'<div class="lp-note">{html.escape(PREVIEW_HINT)} (Browsers cannot preview every format; '
        "type the times instead when it stays black.)</div>"
    )


class Handlers:
    """The event handlers of one app, sharing its worker, its finished runs and the sessions' cancel flags."""

    def __init__(self, settings: Settings, runner: Runner) -> None:
        self.settings = settings
        self.worker = Worker(runner)
        self.runs: dict[str, RunOutput] = {}  # finished runs by folder, for segment search
        self.active: dict[str, threading.Event] = {}  # the cancel flag of each session's running analysis
        self.device: str | None = None  # where runs happen, in words (found on the first run)

    def analyze(
        self,
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
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 - Gradio injects it
    ) -> Iterator[tuple]:
        """Stream status lines while the worker runs; every status change of a run comes from here, in order."""
        no_change = (gr.update(),) * 5
        try:
            job = request_from_widgets(
                self.settings,
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
            )
        except LartDemoError as exc:
            yield (f"**Cannot start:** {exc}", empty_player_html(), [], gr.update(), gr.update(), "")
            return
        events, cancel = self.worker.start(job)
        session = _session(request)
        self.active[session] = cancel
        if self.device is None:
            self.device = device_label(self.settings.device)
        clock = StageClock(self.device)
        line = "Starting…"
        yield (line, empty_player_html(), [], *no_change[:3])
        try:
            while True:
                try:
                    event = events.get(timeout=STATUS_EVERY_S)
                except queue.Empty:
                    line = CANCELLING_TEXT if cancel.is_set() else line
                    yield (line, *no_change)  # a yield point: closing the tab closes this handler here
                    continue
                if event.kind == "progress":
                    if cancel.is_set():
                        continue
                    stage, done, total = event.payload
                    line = clock.describe(stage, done, total)
                    progress((done, total) if total else None, desc=stage)
                    yield (line, *no_change)
                    continue
                if event.kind == "error":
                    text = CANCELLED_TEXT if cancel.is_set() else f"**Error:** {event.payload}"
                    yield (text, empty_player_html(), [], gr.update(), gr.update(), "")
                    return
                out: RunOutput = event.payload
                clock.finish()
                self.runs[str(out.out_dir)] = out
                yield results_outputs(out)
                return
        finally:
            cancel.set()  # no-op after a normal finish; stops the worker when the tab is closed
            if self.active.get(session) is cancel:
                del self.active[session]

    def cancel(self, request: gr.Request) -> None:
        """Ask this session's run to stop; `analyze` reports "Cancelled" once the worker has stopped."""
        flag = self.active.get(_session(request))
        if flag is not None:
            flag.set()

    def search(self, run_dir: str, action: str, person: str, threshold: float) -> str:
        out = self.runs.get(run_dir or "")
        if out is None:
            return segments_html([], "this clip (run an analysis first)", {})
        track = None if person in (None, "", "everyone") else int(str(person).lstrip("#"))
        try:
            segs = find_segments(out.timelines, out.action_names, action, out.fps, float(threshold), track_id=track)
        except LartDemoError as exc:
            return f'<div class="lart-segments lp-note">{html.escape(str(exc))}</div>'
        who = "anyone" if track is None else f"#{track}"
        colors = {t.track_id: t.color for t in out.timelines}
        return segments_html(segs, f"'{action}' by {who} at ≥ {threshold:.0%}", colors)
