"""What the page's events call: widget values in, widget values out.

Each handler only translates between widgets and `lart_demo.pipeline`; everything it computes is
tested without a browser. `Handlers` keeps the state one app shares between events: finished runs
(for segment search) and each browser session's cancel flag.
"""

from __future__ import annotations

import html
import math
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
from lart_demo.app.sessions import LoadedRuns, RunTokens
from lart_demo.app.text import CANCELLED_TEXT, CANCELLING_TEXT, PREVIEW_HINT
from lart_demo.config import Settings
from lart_demo.errors import InputError, LartDemoError
from lart_demo.pipeline.cache_store import RunCache, cache_bytes
from lart_demo.pipeline.request import AnalysisRequest, Runner, RunOutput, load_run_output
from lart_demo.pipeline.timeline import find_segments, player_payload
from lart_demo.video.io import fmt_number
from lart_demo.video.sources import canonical_youtube_url, youtube_video_id

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
    numbers = {
        "Start": start,
        "End": end,
        "Max people": max_people,
        "Labels per person": labels_per_person,
        "Min label probability": min_prob,
        "Max duration": max_duration,
    }
    for name, value in numbers.items():
        if value is not None and not math.isfinite(float(value)):
            raise InputError(f"{name} must be a number (got {fmt_number(float(value))}).")
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
    # the link field only ever names a YouTube video: it is rebuilt from the video id, never opened as a path
    source = str(file) if file else canonical_youtube_url(youtube_video_id(url))
    return AnalysisRequest(source=source, settings=run_settings, start_s=start, end_s=end)


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


def captions_url(out: RunOutput) -> str | None:
    vtt = out.out_dir / "actions.vtt"
    return file_url(vtt) if vtt.is_file() else None


def results_outputs(out: RunOutput, run_token: str = "") -> tuple[str, str, list[str], Any, Any, str]:
    """Widget values for a finished run: status, player, downloads, action choices, person choices, run token."""
    payload = player_payload(out.timelines, out.action_names, out.fps, out.n_frames)
    notes = list(out.notes)
    files = [p for p in out.downloads() if p.exists()] + [bundle(out.out_dir)]
    links = [Download(file_url(p), p.name, FILE_TITLES.get(p.name, p.name)) for p in files]
    player = (
        player_html(file_url(out.video), payload, notes, links, captions_url(out))
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
    return "\n\n".join(status), player, [str(p) for p in files], actions, persons, run_token


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
        self.tokens = RunTokens(Path(settings.output_dir))  # which session may search which run
        self.loaded = LoadedRuns()  # the last few finished runs; older ones are re-read from the cache
        self.active: dict[str, threading.Event] = {}  # the cancel flag of each session's running analysis
        self.device: str | None = None  # where runs happen, in words (found on the first run)

    def analyze(
        self,
        # every input but the video or link has a default, so API callers may pass only `video=` or `url=`
        video: str | None = None,
        url: str | None = None,
        start: float | None = None,
        end: float | None = None,
        max_people: float | None = None,
        labels_per_person: float | None = None,
        min_prob: float | None = None,
        style: str | None = None,
        face_blur: bool | None = None,
        max_duration: float | None = None,
        request: gr.Request = None,  # type: ignore[assignment] - Gradio injects it
        progress=gr.Progress(),  # noqa: B008 - Gradio injects it
    ) -> Iterator[tuple]:
        """Stream status lines while the worker runs; every status change of a run comes from here, in order."""
        no_change = (gr.update(),) * 5
        try:
            job = request_from_widgets(
                self.settings,
                video,
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
                run_id = out.out_dir.name
                self.loaded.put(run_id, out)
                yield results_outputs(out, self.tokens.token(session, run_id))
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

    def run_folder(self, run_token: str | None, request: gr.Request | None) -> Path | None:
        """The folder of a finished run this session's token names, else None (for the export views)."""
        out = self._run_of(_session(request), run_token)
        return None if isinstance(out, str) else out.out_dir

    def _run_of(self, session: str, run_token: str | None) -> RunOutput | str:
        """The finished run a token of this session names (from memory or the cache), or why there is none."""
        run_id = self.tokens.run_id(session, run_token)
        if run_id is None:  # no run yet, or another session's token: the same answer
            return "this clip (run an analysis first)"
        out = self.loaded.get(run_id)
        if out is None:
            found = RunCache(self.settings.output_dir, cache_bytes(self.settings.cache_gb)).lookup(run_id)
            if found is None:
                return "this clip (its results left the cache: run the analysis again)"
            out = load_run_output(found)
            self.loaded.put(run_id, out)
        return out

    def search(
        self,
        run_token: str | None = None,
        action: str | None = None,
        person: str | None = "everyone",
        threshold: float | None = 0.5,
        request: gr.Request = None,  # type: ignore[assignment] - Gradio injects it
    ) -> str:
        """Moments where `action` passes `threshold`, in a run of this session only."""
        out = self._run_of(_session(request), run_token)
        if isinstance(out, str):
            return segments_html([], out, {})
        threshold = 0.5 if threshold is None else threshold
        try:
            track = None if person in (None, "", "everyone") else int(str(person).lstrip("#"))
        except ValueError:
            return segments_html([], f"person '{str(person)[:40]}' (pick one from the list)", {})
        try:
            segs = find_segments(out.timelines, out.action_names, action, out.fps, float(threshold), track_id=track)
        except LartDemoError as exc:
            return f'<div class="lart-segments lp-note">{html.escape(str(exc))}</div>'
        who = "anyone" if track is None else f"#{track}"
        colors = {t.track_id: t.color for t in out.timelines}
        return segments_html(segs, f"'{action}' by {who} at ≥ {threshold:.0%}", colors)
