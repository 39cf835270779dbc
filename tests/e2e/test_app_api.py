"""The real app server, driven through gradio_client like a script user would (`api_name="/analyze"`).

One server per module, tiny random weights; every output of a run is checked against results.json.
"""

from __future__ import annotations

import csv
import html
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file

from lart_demo.app import build_ui, launch_kwargs
from lart_demo.config import Settings
from lart_demo.contracts import Result
from lart_demo.pipeline.request import AnalysisRequest, RunOutput
from lart_demo.pipeline.results import read_result_json
from lart_demo.pipeline.timeline import find_segments
from lart_demo.progress import ProgressFn
from lart_demo.stages.tracking.tracks import read_results
from lart_demo.video.examples import write_example_clip

pytestmark = pytest.mark.slow  # each test drives a live Gradio server that runs the pipeline

JUMP_END_S = 2.0  # analyse the first 2 s of jump.mp4 (48 frames): every stage runs, the suite stays fast
SYNTHETIC_FRAMES = 24


def analyze_args(file: str | None, url: str | None = None, end: float | None = None, **opts: Any) -> list[Any]:
    """Positional inputs of /analyze: file, url, start, end, max people, labels, min prob, style, blur, max duration."""
    values = {
        "start": None,
        "max_people": 10,
        "labels": 3,
        "min_prob": 0.0,
        "style": "mesh+labels",
        "blur": False,
        "max_duration": 60,
    }
    values.update(opts)
    return [
        handle_file(file) if file else None,
        url or "",
        values["start"],
        end,
        values["max_people"],
        values["labels"],
        values["min_prob"],
        values["style"],
        values["blur"],
        values["max_duration"],
    ]


@pytest.fixture(scope="module")
def app(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("app_api_out")
    settings = Settings(weights_dir=tiny_weights, output_dir=out, device="cpu")
    demo = build_ui(settings)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(settings))
    try:
        yield demo.local_url, Client(demo.local_url, verbose=False), settings
    finally:
        demo.close()


def payload_of(player: str) -> dict:
    match = re.search(r'data-payload="([^"]*)"', player)
    assert match, f"no data-payload in the player HTML: {player[:300]}"
    return json.loads(html.unescape(match.group(1)))


def video_src_of(player: str) -> str:
    match = re.search(r'<video class="lp-video" src="([^"]*)"', player)
    assert match, "no <video> in the player HTML"
    return html.unescape(match.group(1))


def probe_stream(path: Path) -> tuple[str, str, int]:
    """(codec, pixel format, decoded frame count) with PyAV, independent of the app's own probe."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, pix_fmt = stream.codec_context.name, stream.codec_context.format.name
        frames = sum(1 for _ in container.decode(stream))
    return codec, pix_fmt, frames


def check_run(base_url: str, outputs: tuple, tmp_path: Path, expected_frames: int) -> Result:
    """Every output of one /analyze call: status, player (video + payload), downloads; returns results.json."""
    status, player, downloads, _action, _person, run_token = outputs
    assert "random weights" not in status.lower()  # the page's one banner says it; files carry the flag
    assert "**Done**" in status and f"over {expected_frames} frames" in status, status
    assert re.fullmatch(r"[\w-]+\.[0-9a-f]{32}", run_token), run_token  # <run id>.<session signature>

    by_name = {Path(p).name: Path(p) for p in downloads}
    core = {"render.mp4", "results.json", "actions.csv", "tracks.pkl"}
    exports = {"actions.vtt", "actions.srt", "events.csv", "events.json", "ava_predictions.csv"}
    assert core | exports <= set(by_name), downloads
    result = read_result_json(by_name["results.json"])
    assert set(by_name) == {"results.json", "lart_results.zip", *result.files.values()}, (
        downloads
    )  # plus one BVH + npz per person
    assert result.clip.n_frames == expected_frames
    assert result.random_weights

    # the player's video is served by the app, plays in browsers (H.264 yuv420p) and has every frame
    src = video_src_of(player)
    assert src.startswith("/gradio_api/file=")
    response = httpx.get(base_url.rstrip("/") + src, timeout=60)
    assert response.status_code == 200, response.text[:200]
    served = tmp_path / "served.mp4"
    served.write_bytes(response.content)
    assert served.read_bytes() == by_name["render.mp4"].read_bytes()
    assert probe_stream(served) == ("h264", "yuv420p", expected_frames)

    # the timeline data in the page matches results.json: ids, frames, probabilities (rounded to 3 places)
    payload = payload_of(player)
    assert payload["n_frames"] == expected_frames
    assert payload["fps"] == pytest.approx(result.clip.fps)
    assert [p["id"] for p in payload["people"]] == [t.track_id for t in result.tracks]
    for person, track in zip(payload["people"], result.tracks, strict=True):
        assert person["frames"] == track.frames.tolist()
        assert 1 <= len(person["traces"]) <= 5 and set(person["traces"]) <= set(person["probs"])
        for name, values in person["probs"].items():
            column = track.action_probs[:, result.action_names.index(name)]
            np.testing.assert_allclose(values, column, atol=5e-4 + 1e-7)
        assert person["start"] == pytest.approx(track.frames[0] / result.clip.fps)

    # actions.csv: one row per (track, frame) with its probabilities and the random-weights flag
    with by_name["actions.csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["random_weights"] for r in rows} == {"1"}
    assert len(rows) == sum(len(t.frames) for t in result.tracks)
    by_key = {(int(r["frame"]), int(r["track_id"])): r for r in rows}
    track = result.tracks[0]
    row = by_key[(int(track.frames[-1]), track.track_id)]
    top1 = int(np.argmax(track.action_probs[-1]))
    assert row["top1"] == result.action_names[top1]
    assert float(row["top1_prob"]) == pytest.approx(float(track.action_probs[-1, top1]), abs=1e-6)

    # tracks.pkl: PHALP layout plus LART's label / ava_action on every frame a person is detected in
    tracks = read_results(by_name["tracks.pkl"])
    frames = [tracks[k] for k in sorted(tracks)]
    assert len(frames) == expected_frames
    assert all("label" in f and "ava_action" in f and f["random_weights"] is True for f in frames)
    for track in result.tracks:
        for frame in track.frames[track.has_detection]:
            entry = frames[int(frame)]
            assert track.track_id in entry["label"], (track.track_id, frame)
            assert all(isinstance(s, str) for s in entry["label"][track.track_id])
            assert np.shape(entry["ava_action"][track.track_id]) == (1, len(result.action_names))
    return result


@pytest.fixture(scope="module")
def jump_run(app, examples_dir: Path) -> tuple[tuple, float]:
    _, client, _ = app
    t0 = time.monotonic()
    outputs = client.predict(*analyze_args(str(examples_dir / "jump.mp4"), end=JUMP_END_S), api_name="/analyze")
    return outputs, time.monotonic() - t0


def test_analyze_jump_outputs(app, jump_run, tmp_path: Path) -> None:
    base_url, _, _ = app
    outputs, _ = jump_run
    result = check_run(base_url, outputs, tmp_path, expected_frames=round(JUMP_END_S * 24))
    assert "Using 0–2 s of the 7.1 s video, as you chose." in outputs[0]
    assert result.tracks, "the tiny models should still track someone in jump.mp4"


def test_same_upload_twice_comes_from_the_cache(app, jump_run, examples_dir: Path) -> None:
    _, client, _ = app
    first, first_s = jump_run
    t0 = time.monotonic()
    again = client.predict(*analyze_args(str(examples_dir / "jump.mp4"), end=JUMP_END_S), api_name="/analyze")
    elapsed = time.monotonic() - t0
    assert "returned from the cache" in again[0]
    assert "returned from the cache" not in first[0]
    assert again[5] == first[5]  # same run, same session: same token
    assert payload_of(again[1]) == payload_of(first[1])
    assert elapsed < max(10.0, first_s / 3), (elapsed, first_s)


def test_segments_api_matches_the_timeline(app, jump_run) -> None:
    _, client, _ = app
    outputs, _ = jump_run
    _, _, settings = app
    run_dir = outputs[5]  # the run token the page keeps for segment search
    result = read_result_json(Path(settings.output_dir) / "runs" / run_dir.split(".")[0] / "results.json")
    payload = payload_of(outputs[1])
    action = payload["people"][0]["traces"][0]
    timelines = _timelines(result)
    for threshold in (0.05, 0.5, 0.95):
        segs = find_segments(timelines, result.action_names, action, result.clip.fps, threshold)
        answer = client.predict(run_dir, action, "everyone", threshold, api_name="/segments")
        assert answer.count('class="lp-seg"') == len(segs), (threshold, answer[:300])
        for seg in segs:
            assert f'data-t="{seg.start_s:.3f}" data-tid="{seg.track_id}"' in answer
        if not segs:
            assert "No moments found" in answer
    tid = result.tracks[0].track_id
    mine = find_segments(timelines, result.action_names, action, result.clip.fps, 0.05, track_id=tid)
    answer = client.predict(run_dir, action, f"#{tid}", 0.05, api_name="/segments")
    assert answer.count('class="lp-seg"') == len(mine)
    # any of the 60 actions can be searched, not only those drawn in the timelines
    rare = next(a for a in result.action_names if all(a not in p["traces"] for p in payload["people"]))
    segs = find_segments(timelines, result.action_names, rare, result.clip.fps, 0.05)
    answer = client.predict(run_dir, rare, "everyone", 0.05, api_name="/segments")
    assert answer.count('class="lp-seg"') == len(segs)
    answer = client.predict(run_dir, "not an action", "everyone", 0.5, api_name="/segments")
    assert "Unknown action &#x27;not an action&#x27;. Pick one from the list." in answer, answer


def _timelines(result: Result):
    from lart_demo.pipeline.timeline import PersonTimeline

    return [PersonTimeline(t.track_id, "#000000", t.frames, t.action_probs) for t in result.tracks]


def test_analyze_synthetic_clip(app, tmp_path: Path) -> None:
    base_url, client, _ = app
    clip = write_example_clip(tmp_path / "figures.mp4", n_frames=SYNTHETIC_FRAMES)
    outputs = client.predict(*analyze_args(str(clip)), api_name="/analyze")
    check_run(base_url, outputs, tmp_path, expected_frames=SYNTHETIC_FRAMES)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("text", "is not a supported video type (.txt)"),
        ("corrupt", "is not a video we can read"),
        ("vimeo", "The link field takes a link to one YouTube video"),
        ("nothing", "Upload a video or paste a YouTube link first."),
        ("both", "not both"),
    ],
)
def test_bad_inputs_show_a_clear_message(app, jump_run, examples_dir: Path, tmp_path: Path, case, expected) -> None:
    _, client, _ = app
    text = tmp_path / "notes.txt"
    text.write_text("these are my notes, not a video\n")
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    file, url = {
        "text": (str(text), None),
        "corrupt": (str(corrupt), None),
        "vimeo": (None, "https://vimeo.com/1"),
        "nothing": (None, None),
        "both": (str(examples_dir / "jump.mp4"), "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    }[case]
    status, player, downloads, *_ = client.predict(*analyze_args(file, url), api_name="/analyze")
    assert expected in status, status
    assert status.startswith(("**Cannot start:**", "**Error:**"))
    assert "Traceback" not in status
    assert downloads in (None, [])
    assert "lart-empty" in player
    # the server keeps working: the earlier run is still served from the cache
    again = client.predict(*analyze_args(str(examples_dir / "jump.mp4"), end=JUMP_END_S), api_name="/analyze")
    assert "returned from the cache" in again[0]
    assert again[5] == jump_run[0][5]


class GatedRunner:
    """A runner that reports progress and then waits for the test (no models): for queue and cancel tests."""

    def __init__(self, out_dir: Path) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.cancelled = threading.Event()
        self.out_dir = out_dir

    def __call__(self, request: AnalysisRequest, progress: ProgressFn, cancel: threading.Event) -> RunOutput:
        self.started.release()
        for i in range(10_000):
            if cancel.is_set():
                self.cancelled.set()
                from lart_demo.progress import Cancelled

                raise Cancelled()
            if self.release.is_set():
                break
            progress("Finding and tracking people", i % 100, 100)
            time.sleep(0.05)
        from lart_demo.errors import VideoError

        raise VideoError("gated runner finished (no outputs by design)")


def test_queue_is_bounded_and_progress_reaches_the_client(tiny_weights: Path, tmp_path: Path) -> None:
    settings = Settings(weights_dir=tiny_weights, output_dir=tmp_path / "out", device="cpu")
    runner = GatedRunner(tmp_path)
    demo = build_ui(settings, runner=runner, queue_size=1)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(settings))
    clip = write_example_clip(tmp_path / "clip.mp4", n_frames=4)
    try:
        client = Client(demo.local_url, verbose=False)
        running = client.submit(*analyze_args(str(clip)), api_name="/analyze")
        assert runner.started.acquire(timeout=30)
        waiting = client.submit(*analyze_args(str(clip)), api_name="/analyze")
        deadline = time.monotonic() + 20
        while waiting.status().code.name != "IN_QUEUE" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert waiting.status().code.name == "IN_QUEUE"
        refused = client.submit(*analyze_args(str(clip)), api_name="/analyze")
        with pytest.raises(Exception, match="(?i)queue is full"):
            refused.result(timeout=30)
        # the running job streams per-stage progress with counts and an ETA
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("left in this step" in o[0] for o in running.outputs()):
            time.sleep(0.2)
        lines = [o[0] for o in running.outputs()]
        assert any(re.search(r"Finding and tracking people\*\*: \d+/100 · about \d+ s left", s) for s in lines), lines
        runner.release.set()
        assert "gated runner finished" in running.result(timeout=30)[0]
        assert "gated runner finished" in waiting.result(timeout=30)[0]
    finally:
        runner.release.set()
        demo.close()


def test_missing_weights_give_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    settings = Settings(weights_dir=tmp_path / "no_weights", output_dir=tmp_path / "out", device="cpu")
    demo = build_ui(settings)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(settings))
    try:
        page = httpx.get(demo.local_url, timeout=30).text
        assert "model file(s) are missing" in page  # the panel is part of the page from the start
        clip = write_example_clip(tmp_path / "clip.mp4", n_frames=4)
        status, *_ = Client(demo.local_url, verbose=False).predict(*analyze_args(str(clip)), api_name="/analyze")
        assert status.startswith("**Error:**") and "could not be obtained" in status, status
        # the first line says what the user can do: a mirror, an existing install, copying files, a test install
        for way in ("LART_DEMO_HF_REPO", "weights import", "copy the files", "make-random"):
            assert way in status.splitlines()[0], (way, status)
        assert "Traceback" not in status
    finally:
        demo.close()


def test_upload_limit_is_enforced_by_the_server(tiny_weights: Path, tmp_path: Path, examples_dir: Path) -> None:
    settings = Settings(weights_dir=tiny_weights, output_dir=tmp_path / "out", max_upload_mb=0.25, device="cpu")
    demo = build_ui(settings)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(settings))
    try:
        client = Client(demo.local_url, verbose=False)
        big = examples_dir / "jump.mp4"
        assert big.stat().st_size > 0.25 * (1 << 20)
        with pytest.raises(Exception, match="(?i)(too large|exceeds|maximum|size)"):
            client.predict(*analyze_args(str(big)), api_name="/analyze")
        # a small file still goes through the upload (and then fails our own type check)
        small = tmp_path / "small.txt"
        small.write_text("x" * 1000)
        status, *_ = client.predict(*analyze_args(str(small)), api_name="/analyze")
        assert "is not a supported video type" in status
    finally:
        demo.close()


def test_cancelling_a_job_from_the_client_stops_the_worker(tiny_weights: Path, tmp_path: Path) -> None:
    settings = Settings(weights_dir=tiny_weights, output_dir=tmp_path / "out", device="cpu")
    runner = GatedRunner(tmp_path)
    demo = build_ui(settings, runner=runner)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(settings))
    clip = write_example_clip(tmp_path / "clip.mp4", n_frames=4)
    try:
        client = Client(demo.local_url, verbose=False)
        job = client.submit(*analyze_args(str(clip)), api_name="/analyze")
        assert runner.started.acquire(timeout=30)
        job.cancel()
        assert runner.cancelled.wait(timeout=10), "closing the handler must set the worker's cancel flag"
        runner.cancelled.clear()
        # the next job runs normally
        runner.release.set()
        again = client.predict(*analyze_args(str(clip)), api_name="/analyze")
        assert "gated runner finished" in again[0]
    finally:
        runner.release.set()
        demo.close()
