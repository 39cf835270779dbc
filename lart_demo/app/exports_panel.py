"""The page's export views of a finished run: the 3D view of the scrubbed frame and highlight clips of events.

Handlers take the page's run token (signed for the browser session, see app/sessions.py) and return widget
values; only a run of the asking session is ever opened. The files they make (view3d/frame_*.glb,
highlights/*.mp4) are written once into the run folder and reused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from lart_demo.config import Settings
from lart_demo.errors import LartDemoError
from lart_demo.exports.events import Event, read_events
from lart_demo.exports.glb import people_at_frame, write_frame_glb
from lart_demo.exports.highlight import write_highlight
from lart_demo.pipeline.results import read_result_json

NO_RUN = "Run an analysis first."


def event_label(event: Event) -> str:
    return (
        f"#{event.track_id} {event.action}: {event.start_s:.2f}–{event.end_s:.2f} s "
        f"(peak {round(100 * event.peak_prob)}%)"
    )


class ExportsPanel:
    """3D view and highlight handlers of one app; the SMPL body is loaded once, on the first 3D view."""

    def __init__(self, settings: Settings, run_folder: Callable[[str | None, gr.Request | None], Path | None]) -> None:
        self.settings = settings
        self.run_folder = run_folder  # run token + request -> that session's run folder (Handlers.run_folder)
        self._smpl: Any = None
        self._lock = threading.Lock()

    def smpl(self) -> Any:
        with self._lock:
            if self._smpl is None:
                # the body model is only needed here, and only once somebody looks at a result in 3D
                from lart_demo.models.smpl import load_smpl
                from lart_demo.stages.people import smpl_model_file
                from lart_demo.weights.files import WeightFiles

                weights = WeightFiles(Path(self.settings.weights_dir))
                self._smpl = load_smpl(smpl_model_file(weights, self.settings), weights.smpl_to_j19)
            return self._smpl

    def _run(self, run_token: str | None, request: gr.Request | None) -> Path | None:
        """The session's run folder, only when it is a finished run inside this app's output folder."""
        folder = self.run_folder(run_token, request)
        if folder is None:
            return None
        path = Path(folder).resolve()
        if not path.is_relative_to(Path(self.settings.output_dir).resolve()):
            return None
        return path if (path / "results.json").is_file() else None

    def after_run(
        self,
        run_token: str | None,
        request: gr.Request = None,  # type: ignore[assignment] - Gradio injects it
    ) -> tuple[Any, Any, Any, Any, str, Any]:
        """A new result: reset the 3D frame slider to the clip's frames, show frame 0, list the events."""
        run = self._run(run_token, request)
        if run is None:
            empty = gr.update(choices=[], value=None)
            return gr.update(value=0, maximum=1), None, gr.update(value=None), empty, NO_RUN, None
        result = read_result_json(run / "results.json")
        slider = gr.update(value=0, minimum=0, maximum=max(result.clip.n_frames - 1, 1), step=1)
        model, download, caption = self.frame_view(run_token, 0, request)
        events = read_events(run / "events.json") if (run / "events.json").is_file() else []
        choices = [(event_label(e), i) for i, e in enumerate(events)]
        dropdown = gr.update(choices=choices, value=0 if choices else None)
        return slider, model, download, dropdown, caption, None

    def frame_view(
        self,
        run_token: str | None,
        frame: float | None,
        request: gr.Request = None,  # type: ignore[assignment] - Gradio injects it
    ) -> tuple[Any, Any, str]:
        """The GLB of one frame for the 3D view and its download button, and a caption naming who is in it."""
        run = self._run(run_token, request)
        if run is None:
            return None, gr.update(value=None), NO_RUN
        index = int(frame or 0)
        try:
            path = write_frame_glb(run, index, self.smpl())
        except LartDemoError as exc:
            return None, gr.update(value=None), f"3D view unavailable: {exc}"
        people = sorted(p.track_id for p in people_at_frame(run, index))
        who = ", ".join(f"#{t}" for t in people) if people else "nobody"
        return str(path), gr.update(value=str(path)), f"3D view of frame {index}: {who}."

    def highlight(
        self,
        run_token: str | None,
        choice: int | None,
        request: gr.Request = None,  # type: ignore[assignment] - Gradio injects it
    ) -> tuple[Any, str]:
        """The chosen event's segment of render.mp4 as its own H.264 clip."""
        run = self._run(run_token, request)
        if run is None or choice is None:
            return None, NO_RUN if run is None else "Pick an event first."
        try:
            events = read_events(run / "events.json")
            if not 0 <= int(choice) < len(events):
                raise IndexError(f"there is no event {choice}")
            event = events[int(choice)]
            fps = read_result_json(run / "results.json").clip.fps
            path = write_highlight(run, event, fps)
        except (LartDemoError, IndexError, ValueError) as exc:
            return None, f"No highlight: {exc}"
        return str(path), f"Highlight: {event_label(event)}."
