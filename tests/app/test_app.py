"""The app's pieces that need no server: widget validation, status lines, panels, ZeroGPU wrapping."""

from __future__ import annotations

import inspect
import pickle
import threading
import time
import zipfile
from pathlib import Path

import pytest

from lart_demo.app import build_ui
from lart_demo.app.examples import RemoteExample, example_rows, fetch_excerpt, generated_example
from lart_demo.app.handlers import BUNDLE_NAME, bundle, request_from_widgets
from lart_demo.app.runner import (
    GPU_LOAD_S,
    GPU_MAX_S,
    GPU_S_PER_FRAME,
    STEPS,
    StageClock,
    StepTimes,
    estimate_gpu_seconds,
    with_zero_gpu,
)
from lart_demo.app.text import limits_text, random_banner, weights_panel
from lart_demo.config import Settings
from lart_demo.errors import InputError, VideoError
from lart_demo.pipeline.request import AnalysisRequest, RunOutput
from lart_demo.progress import Cancelled
from lart_demo.video.examples import write_example_clip
from lart_demo.video.io import probe_video


def widgets(settings: Settings, file=None, url=None, start=None, end=None, max_duration=None) -> AnalysisRequest:
    return request_from_widgets(settings, file, url, start, end, 4, 2, 0.1, "mesh", True, max_duration)


def test_request_from_widgets_maps_options(tmp_path: Path) -> None:
    req = widgets(Settings(), file=str(tmp_path / "a.mp4"), start=1.5, end=4.0, max_duration=3)
    assert req.source == str(tmp_path / "a.mp4")
    assert (req.start_s, req.end_s) == (1.5, 4.0)
    s = req.settings
    options = (s.max_people, s.labels_per_person, s.min_label_prob, s.render_style, s.face_blur)
    assert options == (4, 2, 0.1, "mesh", True)
    assert s.max_duration_s == 3.0
    # the browser sends 0 for empty number boxes: no window
    req = widgets(Settings(), url=" https://youtu.be/dQw4w9WgXcQ ", start=0, end=0)
    assert (req.source, req.start_s, req.end_s) == ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", None, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Upload a video or paste a YouTube link first."),
        ({"file": "a.mp4", "url": "https://youtu.be/x"}, "not both"),
        ({"file": "a.mp4", "start": 3.0, "end": 2.0}, "End must be after start."),
        ({"file": "a.mp4", "start": -1.0}, "Start must be 0 s or later."),
        ({"file": "a.mp4", "max_duration": -5}, "Max duration must be more than 0 s."),
        ({"url": "/etc/passwd"}, "The link field takes a link to one YouTube video"),
        ({"url": "file:///etc/passwd"}, "The link field takes a link to one YouTube video"),
    ],
)
def test_request_from_widgets_rejects_bad_combinations(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        widgets(Settings(), **kwargs)


def test_stage_clock_numbers_steps_of_the_whole_run_and_estimates() -> None:
    now = [100.0]
    times = StepTimes()
    clock = StageClock("CPU", times, now=lambda: now[0])
    n = len(STEPS)
    assert (
        clock.describe("Reading the video", 0, None) == f"**Step 1 of {n} · Reading the video**… · 0 s so far · on CPU"
    )
    now[0] = 101.0
    assert clock.describe("Loading models", 0, None).startswith(f"**Step 2 of {n} · Loading models**…")
    now[0] = 102.0
    assert clock.describe("Finding and tracking people (x)", 0, 50).startswith(f"**Step 3 of {n} · Finding")
    now[0] = 112.0  # 10 frames in 10 s -> 40 s for the remaining 40; later steps never timed: a lower bound
    line = clock.describe("Finding and tracking people (x)", 10, 50)
    assert "10/50 · about 40 s left in this step · at least 40 s left overall" in line and "12 s so far" in line
    now[0] = 150.0
    clock.describe("Appearance features (MViT)", 0, 10)
    now[0] = 160.0
    clock.describe("Recognising actions (LART)", 0, 2)
    now[0] = 161.0
    clock.describe("Rendering video", 0, 50)
    now[0] = 171.0
    clock.finish()
    # a later run of the same length: every step has been timed once, so the overall estimate is complete
    now[0] = 0.0
    again = StageClock("CPU", times, now=lambda: now[0])
    again.describe("Reading the video", 0, None)
    again.describe("Loading models", 0, None)
    now[0] = 1.0
    line = again.describe("Finding and tracking people (x)", 0, 50)
    assert "about 69 s left overall" in line  # tracking took 48 s, then appearance 10, actions 1, rendering 10
    now[0] = 13.0
    line = again.describe("Finding and tracking people (x)", 25, 50)
    assert "about 12 s left in this step · about 33 s left overall" in line and "at least" not in line
    # the cost model's estimate line stays under the following lines
    now[0] = 14.0
    line = again.describe("Estimate after tracking: about 30 s left on CPU (float32) for 4 MViT clips", 0, None)
    assert line.startswith(f"**Step 3 of {n} · Finding and tracking people**") and line.endswith("4 MViT clips")
    now[0] = 15.0
    assert again.describe("Appearance features (MViT)", 0, 4).endswith(
        "\n\nEstimate after tracking: about 30 s left on CPU (float32) for 4 MViT clips"
    )
    # a cached run skips steps: numbering stays "of N"; something else has no step number
    assert StageClock().describe("Waiting for the previous run to finish", 0, None) == (
        "**Waiting for the previous run to finish…**"
    )


def test_limits_text_states_the_caps() -> None:
    text = limits_text(Settings(max_upload_mb=123, max_duration_s=45, max_side=960), queue_size=7)
    assert "123 MB" in text and "first 45 s" in text and "960 px" in text and "up to 7 more" in text


@pytest.mark.slow
def test_weights_panel_is_one_line_with_the_details_folded(tmp_path: Path, tiny_weights: Path) -> None:
    line, details = weights_panel(Settings(weights_dir=tmp_path / "empty"))
    assert "model file(s) are missing" in line and "\n" not in line
    assert "python -m lart_demo weights download" in line and "make-random" in details
    assert details.count("\n- `") >= 5  # one line per missing file, each with what to do
    assert weights_panel(Settings(weights_dir=tiny_weights)) == ("", "")


def test_random_banner_only_for_random_weights(tmp_path: Path, tiny_weights: Path) -> None:
    assert "predictions are meaningless" in random_banner(Settings(weights_dir=tiny_weights)).lower()
    assert random_banner(Settings(weights_dir=tmp_path)) == ""


def test_generated_example_is_made_once(tmp_path: Path) -> None:
    settings = Settings(output_dir=tmp_path)
    path = generated_example(settings)
    assert path.is_file() and path.parent == tmp_path / "examples"
    stamp = path.stat().st_mtime_ns
    assert generated_example(settings) == path and path.stat().st_mtime_ns == stamp


def test_real_example_is_cut_from_the_source_and_offline_falls_back_fast(tmp_path: Path) -> None:
    source = write_example_clip(tmp_path / "film.mp4", n_frames=72, fps=24.0)
    excerpt = RemoteExample("cut.mp4", str(source), start_s=1.0, duration_s=1.0, credit="a test film")
    out = fetch_excerpt(excerpt, tmp_path / "cut.mp4")
    info = probe_video(out)
    assert info.duration_s == pytest.approx(1.0, abs=0.1) and max(info.width, info.height) <= 640
    with pytest.raises(Exception):  # noqa: B017 - any failure; nothing may be left behind
        fetch_excerpt(RemoteExample("x.mp4", str(tmp_path / "missing.mp4"), 0, 1, ""), tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()
    # an unreachable host: the page still gets the generated example, within the startup wait
    t0 = time.monotonic()
    rows = example_rows(Settings(output_dir=tmp_path / "out"), fetch=False)
    assert [p.name for p, _ in rows] == ["generated_example.mp4"]
    assert time.monotonic() - t0 < 30


def test_bundle_zips_every_file_of_the_run_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "thumbnails").mkdir(parents=True)
    (run / "results.json").write_text("{}")
    (run / "thumbnails" / "track_1.png").write_bytes(b"png")
    path = bundle(run)
    assert path.name == BUNDLE_NAME
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["results.json", "thumbnails/track_1.png"]
    stamp = path.stat().st_mtime_ns
    assert bundle(run) == path and path.stat().st_mtime_ns == stamp


def test_gpu_estimate_grows_with_the_clip(tmp_path: Path) -> None:
    short = write_example_clip(tmp_path / "short.mp4", n_frames=24, fps=24.0)
    long = write_example_clip(tmp_path / "long.mp4", n_frames=96, fps=24.0)
    s = Settings()
    est_short = estimate_gpu_seconds(AnalysisRequest(str(short), s))
    est_long = estimate_gpu_seconds(AnalysisRequest(str(long), s))
    assert est_short == int(GPU_LOAD_S + GPU_S_PER_FRAME * 24)
    assert est_long == int(GPU_LOAD_S + GPU_S_PER_FRAME * 96)
    # the window and the duration cap shorten it; a link is budgeted at the cap
    assert estimate_gpu_seconds(AnalysisRequest(str(long), s, start_s=1.0, end_s=2.0)) == int(GPU_LOAD_S + 24)
    assert estimate_gpu_seconds(AnalysisRequest(str(long), s.with_overrides(max_duration_s=2.0))) == int(
        GPU_LOAD_S + 48
    )
    assert estimate_gpu_seconds(AnalysisRequest("https://youtu.be/dQw4w9WgXcQ", s)) == GPU_MAX_S


class FakeSpaces:
    """Stands in for the `spaces` package: like ZeroGPU, it pickles the arguments and every yielded item."""

    def __init__(self) -> None:
        self.durations: list[int] = []

    def GPU(self, duration):  # noqa: N802 - the package's name
        def wrap(task):
            assert inspect.isgeneratorfunction(task)  # so progress can stream back from the GPU process

            def handler(*args):
                self.durations.append(duration(*args))
                for item in task(*pickle.loads(pickle.dumps(args))):
                    yield pickle.loads(pickle.dumps(item))

            return handler

        return wrap


def fake_run_output(tmp_path: Path) -> RunOutput:
    p = tmp_path / "run"
    return RunOutput(p, None, p / "r.json", p / "a.csv", p / "t.pkl", [], ["walk"], 24.0, 4, True)


def test_with_zero_gpu_streams_progress_and_the_result(tmp_path: Path) -> None:
    def runner(request, progress, cancel):
        for i in range(3):
            progress("Tracking", i, 3)
        return fake_run_output(tmp_path)

    spaces = FakeSpaces()
    on_gpu = with_zero_gpu(runner, spaces)
    clip = write_example_clip(tmp_path / "c.mp4", n_frames=24, fps=24.0)
    request = AnalysisRequest(str(clip), Settings())
    seen: list[tuple] = []
    out = on_gpu(request, lambda *report: seen.append(report), threading.Event())
    assert out == fake_run_output(tmp_path)
    assert seen == [("Tracking", 0, 3), ("Tracking", 1, 3), ("Tracking", 2, 3)]
    assert spaces.durations == [estimate_gpu_seconds(request)]
    assert with_zero_gpu(runner) is runner  # `spaces` is not installed here: nothing changes


def test_with_zero_gpu_passes_errors_and_stops_on_cancel(tmp_path: Path) -> None:
    release = threading.Event()

    def failing(request, progress, cancel):
        raise VideoError("that clip is broken")

    def slow(request, progress, cancel):
        progress("Tracking", 0, 3)
        release.wait(10)
        progress("Tracking", 1, 3)
        return fake_run_output(tmp_path)

    request = AnalysisRequest(str(tmp_path / "missing.mp4"), Settings())
    with pytest.raises(VideoError, match="that clip is broken"):
        with_zero_gpu(failing, FakeSpaces())(request, lambda *r: None, threading.Event())
    cancel = threading.Event()

    def progress(*report):
        cancel.set()  # the user cancels while the first report is shown
        release.set()

    with pytest.raises(Cancelled):
        with_zero_gpu(slow, FakeSpaces())(request, progress, cancel)


@pytest.mark.slow
def test_missing_weights_panel_is_shown_in_the_app(tmp_path: Path) -> None:
    demo = build_ui(Settings(weights_dir=tmp_path / "empty", output_dir=tmp_path / "out"))
    by_id = {c.get("props", {}).get("elem_id"): c["props"] for c in demo.config["components"]}
    assert by_id["lart-weights-missing"]["visible"] is True
    assert "model file(s) are missing" in by_id["lart-weights-line"]["value"]
    assert "- `" in by_id["lart-weights-details"]["value"]
