"""The Gradio app: inputs and options on the left, the synced player + timeline + downloads on the right.

Callbacks here only translate between widgets and `lart_demo.pipeline.run`; everything they compute is
tested without a browser. The analysis runs in a worker thread: the event handler yields a status
line at least twice a second, so cancelling the event (or closing the tab) closes the handler at its
next yield, which sets the flag the pipeline checks between batches and frees the GPU promptly.
"""

from __future__ import annotations

import contextvars
import html
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from lart_demo.app.player import empty_player_html, player_css, player_html, player_js, segments_html
from lart_demo.config import Settings
from lart_demo.contracts import ProgressFn
from lart_demo.errors import InputError, LartDemoError, ModelError
from lart_demo.pipeline.run import AnalysisRequest, Cancelled, Runner, RunOutput, run_analysis
from lart_demo.pipeline.timeline import find_segments, player_payload

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv")
STYLES = ["mesh+labels", "mesh", "side-by-side"]
QUEUE_SIZE = 16  # runs waiting for the GPU beyond this are refused with "queue is full"
STATUS_EVERY_S = 0.5  # the handler yields at least this often, so a cancel takes effect quickly
EXAMPLE_NAME = "generated_example.mp4"
# ZeroGPU budget per clip: load + per-frame cost (tracking ~0.55 s/frame on a shared GPU, plus
# appearance, LART and rendering), clamped to what a Space may ask for.
GPU_LOAD_S = 30.0
GPU_S_PER_FRAME = 1.0
GPU_MAX_S = 600

CANCELLED_TEXT = "**Cancelled.** The analysis was stopped; start a new one whenever you like."
CANCELLING_TEXT = "**Cancelling…** the current step stops at its next check."

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


class StageClock:
    """Turns (stage, done, total) reports into a status line with counts and an ETA per stage."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.started = now()
        self.stage = ""
        self.stage_started = self.started
        self.stage_number = 0

    def describe(self, stage: str, done: int, total: int | None) -> str:
        now = self.now()
        if stage != self.stage:
            self.stage, self.stage_started = stage, now
            self.stage_number += 1
        text = f"**Step {self.stage_number} · {stage}**"
        if total:
            text += f": {done}/{total}"
            elapsed = now - self.stage_started
            if 0 < done < total and elapsed > 0.5:
                text += f" · about {math.ceil(elapsed / done * (total - done))} s left in this step"
        else:
            text += "…"
        return text + f" · {now - self.started:.0f} s so far"


def limits_text(settings: Settings) -> str:
    return (
        f"**Limits:** uploads up to {settings.max_upload_mb:g} MB; "
        f"the first {settings.max_duration_s:g} s are analysed "
        f"(set start/end to pick another part); frames larger than {settings.max_side} px are downscaled. "
        "Anything cut is reported with the results. One analysis runs at a time; "
        f"up to {QUEUE_SIZE} more wait in line and the page shows your place."
    )


def weights_panel(settings: Settings) -> str:
    """Markdown for the weights-missing panel, or "" when every file the analysis needs is there."""
    from lart_demo.pipeline.analysis import STAGES
    from lart_demo.weights.status import missing_for, missing_weights_advice

    try:
        missing = missing_for(settings, STAGES)
    except LartDemoError as exc:
        return f"### ⚠️ The model files cannot be checked\n{exc}"
    if not missing:
        return ""
    rows = "\n".join(f"- `{m.path.name}` ({m.detail}): {m.how_to_get}" for m in missing)
    return (
        f"### ⚠️ {len(missing)} model file(s) are missing\n"
        f"They belong in `{settings.weights_dir}`:\n\n{rows}\n\n{missing_weights_advice(settings.weights_dir)}"
    )


def random_banner(settings: Settings) -> str:
    from lart_demo.weights.random import random_weights_info

    info = random_weights_info(Path(settings.weights_dir))
    if info is None:
        return ""
    return (
        f"⚠️ **{str(info['banner']).capitalize()}.** This app is running with random test weights "
        f"(profile '{info.get('profile', '?')}'), not the released models."
    )


def example_clip(settings: Settings) -> Path:
    """The bundled example, generated on first use (the project ships no third-party footage)."""
    from lart_demo.video.examples import write_example_clip

    path = Path(settings.output_dir) / "examples" / EXAMPLE_NAME
    if not path.is_file():
        write_example_clip(path)
    return path


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


def estimate_gpu_seconds(request: AnalysisRequest) -> int:
    """ZeroGPU duration budget from the clip length (local files are probed; links use the window/cap)."""
    from lart_demo.video.io import probe_video
    from lart_demo.video.sources import looks_like_url

    s = request.settings
    start = request.start_s or 0.0
    fps = 30.0
    seconds = s.max_duration_s
    if not looks_like_url(request.source) and Path(request.source).is_file():
        try:
            info = probe_video(request.source)
        except LartDemoError:
            return int(GPU_LOAD_S)  # the run will fail fast with a clear message
        fps = info.fps
        seconds = max(info.duration_s - start, 0.0)
    if request.end_s is not None:
        seconds = min(seconds, max(request.end_s - start, 0.0))
    if s.max_duration_s:
        seconds = min(seconds, s.max_duration_s)
    if s.processing_fps:
        fps = min(fps, s.processing_fps)
    frames = math.ceil(seconds * fps - 1e-6)  # as the clip planner counts them
    return int(min(GPU_LOAD_S + GPU_S_PER_FRAME * frames, GPU_MAX_S))


def stream_analysis(runner: Runner, request: AnalysisRequest) -> Iterator[tuple[str, Any]]:
    """Run `runner` and yield ("progress", (stage, done, total)) items, then ("done", RunOutput).

    Only picklable values go in and out: ZeroGPU runs this in a forked process and sends the
    arguments and every yielded item through a pipe (a callback or a threading.Event cannot cross).
    """
    events: queue.Queue[tuple[str, Any] | None] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["out"] = runner(request, lambda *report: events.put(("progress", report)), threading.Event())
        except BaseException as exc:  # re-raised below, in the caller's thread
            outcome["error"] = exc
        finally:
            events.put(None)

    threading.Thread(target=work, name="lart-gpu-analysis", daemon=True).start()
    while (item := events.get()) is not None:
        yield item
    if "error" in outcome:
        raise outcome["error"]
    yield ("done", outcome["out"])


def with_zero_gpu(runner: Runner, spaces_module: Any = None) -> Runner:
    """`runner` moved onto ZeroGPU with `spaces.GPU` when the `spaces` package is importable, else unchanged.

    The GPU time asked for is estimated from the clip length. Progress streams back from the GPU
    process. A cancel stops waiting at the next progress report; the GPU process itself ends when
    its run does or its time is up (ZeroGPU offers no way to stop it early).
    """
    if spaces_module is None:
        try:
            import spaces as spaces_module  # type: ignore[import-not-found, no-redef]
        except ImportError:
            return runner

    def on_gpu(request: AnalysisRequest) -> Iterator[tuple[str, Any]]:
        yield from stream_analysis(runner, request)

    gpu_stream = spaces_module.GPU(duration=estimate_gpu_seconds)(on_gpu)

    def zero_gpu_runner(request: AnalysisRequest, progress: ProgressFn, cancel: threading.Event) -> RunOutput:
        stream = gpu_stream(request)
        try:
            for kind, payload in stream:
                if cancel.is_set():
                    raise Cancelled()
                if kind == "progress":
                    progress(*payload)
                else:
                    return payload
        finally:
            stream.close()
        raise ModelError("The GPU worker stopped without returning a result. Please try again.")

    return zero_gpu_runner


class _AnalysisThread:
    """The ONE thread of this process that runs analyses, one at a time, for every app built here.

    One thread because an OpenGL (EGL) context made current on a thread cannot be made current on
    another, and the renderer keeps its context between runs; one at a time because a cancelled run
    keeps the GPU until it reaches its next cancel check, and the next run must wait for that.
    """

    def __init__(self) -> None:
        self.jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self.pending = 0
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None], on_wait: Callable[[], None]) -> None:
        """Queue `job`; `on_wait` is called first when another run is still in progress or waiting."""
        with self.lock:
            if self.pending > 0:
                on_wait()
            self.pending += 1
            if self.thread is None:
                # a daemon thread: stopping the server does not wait for a run in progress
                self.thread = threading.Thread(target=self._serve, name="lart-analysis", daemon=True)
                self.thread.start()
        self.jobs.put(job)

    def _serve(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                job()
            finally:
                with self.lock:
                    self.pending -= 1


_ANALYSIS_THREAD = _AnalysisThread()


class _Worker:
    """Starts runs of one app's runner on the analysis thread and hands back their event queue."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def start(self, request: AnalysisRequest) -> tuple[queue.Queue[_Event], threading.Event]:
        events: queue.Queue[_Event] = queue.Queue()
        cancel = threading.Event()

        def progress(stage: str, done: int, total: int | None) -> None:
            events.put(_Event("progress", (stage, done, total)))

        def work() -> None:
            try:
                if cancel.is_set():  # cancelled while waiting for the previous run
                    raise Cancelled()
                events.put(_Event("done", self.runner(request, progress, cancel)))
            except LartDemoError as exc:
                events.put(_Event("error", str(exc)))
            except Exception as exc:  # the user gets one line; the log keeps the traceback
                log.exception("analysis failed")
                events.put(
                    _Event("error", f"The analysis failed unexpectedly ({type(exc).__name__}). Details are in the log.")
                )

        # the copied context carries Gradio's request into the thread (ZeroGPU reads it for the quota)
        context = contextvars.copy_context()
        _ANALYSIS_THREAD.submit(
            lambda: context.run(work), on_wait=lambda: progress("Waiting for the previous run to finish", 0, None)
        )
        return events, cancel


def _session(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "")


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
    status += [f"- ℹ️ {note}" for note in notes]
    if out.random_weights:
        status.insert(0, "⚠️ **Random weights: predictions are meaningless.**")
    downloads = [str(p) for p in out.downloads() if p.exists()]
    # the actions someone's timeline shows come first; every other action can be searched too
    used = sorted({a for person in payload["people"] for a in person["traces"]})
    choices = used + [a for a in dict.fromkeys(out.action_names) if a not in used]
    actions = gr.update(choices=choices, value=choices[0] if choices else None)
    persons = gr.update(choices=["everyone"] + [f"#{t.track_id}" for t in out.timelines], value="everyone")
    return "\n\n".join(status), player, downloads, actions, persons, str(out.out_dir)


def build_ui(settings: Settings, runner: Runner | None = None, queue_size: int = QUEUE_SIZE) -> gr.Blocks:
    """The whole app. `runner` is the analysis entry point (default: `run_analysis`, on ZeroGPU when available)."""
    worker = _Worker(runner if runner is not None else with_zero_gpu(run_analysis))
    runs: dict[str, RunOutput] = {}  # finished runs by folder, for segment search
    active: dict[str, threading.Event] = {}  # the cancel flag of each browser session's running analysis
    no_change = (gr.update(),) * 5

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
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 - Gradio injects it
    ) -> Iterator[tuple]:
        """Stream status lines while the worker runs; every status change of a run comes from here, in order."""
        try:
            job = request_from_widgets(
                settings, file, url, start, end, max_people, labels_per_person, min_prob, style, face_blur, max_duration
            )
        except LartDemoError as exc:
            yield (f"**Cannot start:** {exc}", empty_player_html(), None, gr.update(), gr.update(), "")
            return
        events, cancel = worker.start(job)
        session = _session(request)
        active[session] = cancel
        clock = StageClock()
        line = "Starting…"
        yield (line, empty_player_html("Working… progress is shown above."), None, *no_change[:3])
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
                    yield (text, empty_player_html(), None, gr.update(), gr.update(), "")
                    return
                out: RunOutput = event.payload
                runs[str(out.out_dir)] = out
                yield results_outputs(out)
                return
        finally:
            cancel.set()  # no-op after a normal finish; stops the worker when the tab is closed
            if active.get(session) is cancel:
                del active[session]

    def cancel_run(request: gr.Request) -> None:
        """Ask this session's run to stop; `analyze` reports "Cancelled" once the worker has stopped."""
        flag = active.get(_session(request))
        if flag is not None:
            flag.set()

    def search(run_dir: str, action: str, person: str, threshold: float) -> str:
        out = runs.get(run_dir or "")
        if out is None:
            return segments_html([], "this clip (run an analysis first)")
        track = None if person in (None, "", "everyone") else int(str(person).lstrip("#"))
        try:
            segs = find_segments(out.timelines, out.action_names, action, out.fps, float(threshold), track_id=track)
        except LartDemoError as exc:
            return f'<div class="lart-segments lp-note">{html.escape(str(exc))}</div>'
        who = "anyone" if track is None else f"#{track}"
        return segments_html(segs, f"'{action}' by {who} at ≥ {threshold:.0%}")

    with gr.Blocks(title="LART demo: what is everyone doing?") as demo:
        gr.Markdown(
            "# What is everyone doing?\n"
            "Upload a clip or paste a YouTube link. Every person is tracked in 3D (PHALP + HMR2.0) and their actions "
            "are recognised by LART (60 AVA actions). You get a video with each person's body mesh and top actions, "
            "and a timeline per person you can scrub."
        )
        banner = random_banner(settings)
        gr.Markdown(banner, visible=bool(banner), elem_id="lart-random-banner")
        panel = weights_panel(settings)
        gr.Markdown(panel, visible=bool(panel), elem_id="lart-weights-missing")
        gr.Markdown(limits_text(settings), elem_id="lart-limits")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                with gr.Tab("Upload"):
                    file_in = gr.File(
                        label=f"Video ({', '.join(e.lstrip('.') for e in VIDEO_EXTENSIONS)}; "
                        f"up to {settings.max_upload_mb:g} MB)",
                        type="filepath",
                        elem_id="lart-file",
                    )
                    gr.Examples(
                        examples=[[str(example_clip(settings))]],
                        inputs=[file_in],
                        label="Example: a clip this app generates itself (simple figures, no third-party footage)",
                        cache_examples=False,
                    )
                with gr.Tab("YouTube"):
                    url_in = gr.Textbox(
                        label="YouTube link", placeholder="https://www.youtube.com/watch?v=…", elem_id="lart-url"
                    )
                with gr.Row():
                    start_in = gr.Number(label="Start (s)", value=None, minimum=0, elem_id="lart-start")
                    end_in = gr.Number(label="End (s; 0 = to the end)", value=None, minimum=0, elem_id="lart-end")
                with gr.Accordion("Options", open=False, elem_id="lart-options"):
                    max_people_in = gr.Slider(1, 20, value=settings.max_people, step=1, label="Max people")
                    labels_in = gr.Slider(0, 5, value=settings.labels_per_person, step=1, label="Labels per person")
                    min_prob_in = gr.Slider(
                        0, 1, value=settings.min_label_prob, step=0.05, label="Min label probability"
                    )
                    style_in = gr.Radio(STYLES, value=settings.render_style, label="Render style")
                    blur_in = gr.Checkbox(value=settings.face_blur, label="Blur faces")
                    max_dur_in = gr.Number(
                        value=settings.max_duration_s, label="Max duration (s)", minimum=1, elem_id="lart-max-duration"
                    )
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
                        threshold_in = gr.Slider(
                            0.05, 0.95, value=0.5, step=0.05, label="Threshold", elem_id="lart-seg-threshold"
                        )
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
        run_btn.click(
            analyze,
            inputs=inputs,
            outputs=[status, player, downloads, action_in, person_in, run_dir],
            api_name="analyze",
            concurrency_id="gpu",
            concurrency_limit=1,
        )
        # no `cancels=` on the run event: closing its handler would drop the final status; the run ends itself
        cancel_btn.click(cancel_run, queue=False, api_visibility="private")
        search_btn.click(
            search,
            inputs=[run_dir, action_in, person_in, threshold_in],
            outputs=[segments],
            api_name="segments",
            concurrency_limit=None,
        )
    demo.queue(max_size=queue_size)
    return demo


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for `demo.launch`: upload limit and the folders the player may serve files from."""
    return {
        "max_file_size": int(settings.max_upload_mb * (1 << 20)),  # bytes, as the upload check counts MB
        "allowed_paths": [str(Path(settings.output_dir).resolve())],
    }
