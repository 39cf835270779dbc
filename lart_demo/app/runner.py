"""Running analyses for the page: one worker thread, the ZeroGPU wrapper and the progress stream.

The analysis runs in a worker thread: the event handler yields a status line at least twice a
second, so cancelling the event (or closing the tab) closes the handler at its next yield, which
sets the flag the pipeline checks between batches and frees the GPU promptly.
"""

from __future__ import annotations

import contextvars
import importlib.util
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lart_demo.errors import LartDemoError, ModelError
from lart_demo.pipeline.request import AnalysisRequest, Runner, RunOutput
from lart_demo.progress import Cancelled, ProgressFn
from lart_demo.video.io import probe_video
from lart_demo.video.sources import looks_like_url

log = logging.getLogger(__name__)

QUEUE_SIZE = 16  # runs waiting for the GPU beyond this are refused with "queue is full"
STATUS_EVERY_S = 0.5  # the handler yields at least this often, so a cancel takes effect quickly
# ZeroGPU budget per clip: load + per-frame cost (tracking ~0.55 s/frame on a shared GPU, plus
# appearance, LART and rendering), clamped to what a Space may ask for.
GPU_LOAD_S = 30.0
GPU_S_PER_FRAME = 1.0
GPU_MAX_S = 600


@dataclass
class Event:
    kind: str  # "progress" | "done" | "error"
    payload: Any


# The steps of a run, in order, each with the stage names that report under it (by prefix).
STEPS: tuple[tuple[str, ...], ...] = (
    ("Reading the video",),
    ("Loading models", "Downloading model weights"),
    ("Finding and tracking people",),
    ("Appearance features",),
    ("Recognising actions",),
    ("Rendering video",),
)
FRAMES_STEP = 2  # the step whose total is the clip's frame count: later steps are estimated per frame


class StepTimes:
    """How long each step took on this server, per frame of the clip (flat seconds for steps before the
    frame count is known): the overall estimate of the next runs comes from these measurements."""

    def __init__(self) -> None:
        self.per_frame: dict[int, float] = {}
        self.flat: dict[int, float] = {}
        self.lock = threading.Lock()

    def record(self, step: int, seconds: float, frames: int | None) -> None:
        with self.lock:
            if step < FRAMES_STEP or not frames:
                self.flat[step] = seconds
            else:
                self.per_frame[step] = seconds / frames

    def guess(self, step: int, frames: int | None) -> float | None:
        with self.lock:
            if step < FRAMES_STEP:
                return self.flat.get(step)
            rate = self.per_frame.get(step)
            return None if rate is None or not frames else rate * frames


STEP_TIMES = StepTimes()


class StageClock:
    """Turns (stage, done, total) reports into "Step k of N" status lines with an ETA for the step and
    for the whole run, the elapsed time and the device.

    The step ETA extrapolates the step's own rate. The overall ETA adds, for every later step, the
    time it took per frame in earlier runs on this server (`StepTimes`); before a step has been
    timed once, the line says the estimate covers only the steps timed so far.
    """

    def __init__(
        self, device: str = "", times: StepTimes = STEP_TIMES, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.now = now
        self.times = times
        self.device = device
        self.started = now()
        self.step = -1
        self.step_started = self.started
        self.frames: int | None = None
        self.estimate = ""  # the cost model's latest line (pipeline/estimate.py), kept under later steps

    @staticmethod
    def step_of(stage: str) -> int | None:
        return next((i for i, names in enumerate(STEPS) if stage.startswith(names)), None)

    def _enter(self, step: int, now: float) -> None:
        if self.step >= 0:
            self.times.record(self.step, now - self.step_started, self.frames)
        self.step, self.step_started = step, now

    def finish(self) -> None:
        """Record the last step's time (call when the run is done)."""
        if self.step >= 0:
            self.times.record(self.step, self.now() - self.step_started, self.frames)
            self.step = -1

    def describe(self, stage: str, done: int, total: int | None) -> str:
        now = self.now()
        step = self.step_of(stage)
        if stage.startswith("Estimate"):  # the cost model's estimate: shown with every later line
            self.estimate = stage
            stage, done, total = (STEPS[self.step][0], 0, None) if self.step >= 0 else (stage, 0, None)
            step = self.step_of(stage)
        if step is None:  # not a step of the pipeline (e.g. waiting for another run): no numbers
            return f"**{stage}…**" + (f" · {self.estimate}" if self.estimate else "")
        if step != self.step:
            self._enter(step, now)
        if step == FRAMES_STEP and total:
            self.frames = total
        text = f"**Step {step + 1} of {len(STEPS)} · {stage}**"
        step_left: float | None = None
        if total:
            text += f": {done}/{total}"
            elapsed = now - self.step_started
            if 0 < done < total and elapsed > 0.5:
                step_left = elapsed / done * (total - done)
                text += f" · about {math.ceil(step_left)} s left in this step"
        else:
            text += "…"
        text += self._overall(step, step_left, now)
        text += f" · {now - self.started:.0f} s so far"
        text += f" · on {self.device}" if self.device else ""
        return text + (f"\n\n{self.estimate}" if self.estimate else "")

    def _overall(self, step: int, step_left: float | None, now: float) -> str:
        if step_left is None:
            guess = self.times.guess(step, self.frames)
            if guess is not None:
                step_left = max(guess - (now - self.step_started), 0.0)
        later = [self.times.guess(s, self.frames) for s in range(step + 1, len(STEPS))]
        known = [g for g in later if g is not None]
        if step_left is None and not known:
            return ""
        left = math.ceil((step_left or 0.0) + sum(known))
        if step_left is not None and len(known) == len(later):
            return f" · about {left} s left overall"
        return f" · at least {left} s left overall (some steps not yet timed on this server)"


def device_label(settings_device: str) -> str:
    """Where the analysis runs, in words, for the progress line."""
    if importlib.util.find_spec("spaces") is not None:
        return "ZeroGPU"
    # imported here: it loads torch, which only the first run's status needs
    from lart_demo.device import describe_device

    return describe_device(settings_device)


def estimate_gpu_seconds(request: AnalysisRequest) -> int:
    """ZeroGPU duration budget from the clip length (local files are probed; links use the window/cap)."""
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
            # optional: only installed on a Hugging Face ZeroGPU Space
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


class Worker:
    """Starts runs of one app's runner on the analysis thread and hands back their event queue."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def start(self, request: AnalysisRequest) -> tuple[queue.Queue[Event], threading.Event]:
        events: queue.Queue[Event] = queue.Queue()
        cancel = threading.Event()

        def progress(stage: str, done: int, total: int | None) -> None:
            events.put(Event("progress", (stage, done, total)))

        def work() -> None:
            try:
                if cancel.is_set():  # cancelled while waiting for the previous run
                    raise Cancelled()
                events.put(Event("done", self.runner(request, progress, cancel)))
            except LartDemoError as exc:
                events.put(Event("error", str(exc)))
            except Exception as exc:  # the user gets one line; the log keeps the traceback
                log.exception("analysis failed")
                events.put(
                    Event("error", f"The analysis failed unexpectedly ({type(exc).__name__}). Details are in the log.")
                )

        # the copied context carries Gradio's request into the thread (ZeroGPU reads it for the quota)
        context = contextvars.copy_context()
        _ANALYSIS_THREAD.submit(
            lambda: context.run(work), on_wait=lambda: progress("Waiting for the previous run to finish", 0, None)
        )
        return events, cancel
