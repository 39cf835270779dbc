"""The whole analysis through the real CLI, on a real clip, with tiny random weights (CPU, offline)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT

from lart_demo.pipeline.results import read_result_json
from lart_demo.stages.tracking.tracks import read_results
from lart_demo.video.io import probe_video

pytestmark = pytest.mark.slow  # each test runs the CLI in a subprocess over a real clip


def run_cli(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    # one intra-op thread, as in-process tests use: on 2 shared cores more threads only slow torch down
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "lart_demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def write_boxes_file(path: Path, boxes_per_frame: list[np.ndarray]) -> Path:
    """Write per-frame (N, 4|5) arrays in the boxes-file format ."""
    frames = {str(i): np.asarray(b, dtype=float).round(2).tolist() for i, b in enumerate(boxes_per_frame) if len(b)}
    Path(path).write_text(json.dumps({"frames": frames}), encoding="utf-8")
    return Path(path)


def jump_boxes(path: Path, n_frames: int = 171) -> Path:
    """Two people-sized boxes drifting towards and away from each other (what a detector stand-in reports)."""
    rows = []
    for i in range(n_frames):
        dx = 30 * np.sin(i / 20)
        rows.append(np.array([[40 + dx, 50, 160 + dx, 280, 0.95], [230 - dx, 40, 350 - dx, 275, 0.9]]))
    return write_boxes_file(path, rows)


@pytest.fixture(scope="module")
def jump_run(tmp_path_factory: pytest.TempPathFactory, tiny_weights: Path, examples_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    out = tmp / "out"
    proc = run_cli(
        str(examples_dir / "jump.mp4"),
        "--out", str(out),
        "--weights", str(tiny_weights),
        "--boxes", str(jump_boxes(tmp / "boxes.json")),
        env_extra={"LART_DEMO_OUTPUT_DIR": str(tmp / "work")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_results_json_covers_every_frame_of_every_track(jump_run: Path) -> None:
    result = read_result_json(jump_run / "results.json")
    assert result.random_weights
    assert result.clip.n_frames == 171 and result.clip.fps == pytest.approx(24.0)
    assert [t.track_id for t in result.tracks] == [1, 2]
    assert len(result.action_names) == 60
    for track in result.tracks:
        # the boxes are given in every frame, so both identities span the whole clip; random HMR2/HMAR
        # weights make the association costs noisy, so a frame or two may go unmatched (LART in-fills them)
        assert track.frames.tolist() == list(range(171))
        assert track.has_detection.mean() > 0.9
        assert track.action_probs is not None and track.action_probs.shape == (171, 60)
        assert np.all((track.action_probs >= 0) & (track.action_probs <= 1))
        assert track.thumbnail and (jump_run / track.thumbnail).is_file()
    assert set(result.timings_s) >= {"people_and_tracking", "appearance", "actions", "render"}


def test_actions_csv_has_a_row_per_track_frame(jump_run: Path) -> None:
    lines = (jump_run / "actions.csv").read_text().splitlines()
    rows = list(csv.DictReader(lines))
    assert {r["random_weights"] for r in rows} == {"1"}
    assert len(rows) == 2 * 171
    first = rows[0]
    assert {"frame", "time_s", "track_id", "top1", "top1_prob"} <= set(first)
    assert float(first["top1_prob"]) >= float(first["top2_prob"]) >= float(first["top3_prob"])


def test_tracks_pkl_is_phalp_compatible_with_lart_labels(jump_run: Path) -> None:
    results = read_results(jump_run / "tracks.pkl")
    assert len(results) == 171
    frame = next(iter(results.values()))
    assert all(f["random_weights"] is True for f in results.values())  # the file says its contents are noise
    for key in ("tid", "bbox", "tracked_time", "smpl", "camera", "3d_joints", "label", "ava_action"):
        assert key in frame, key
    for tid in frame["tid"]:
        assert len(frame["label"][tid]) == 3 and frame["label"][tid][0].endswith(tuple("abcdefghijklmnopqrstuvwxyz)"))
        assert np.asarray(frame["ava_action"][tid]).shape == (1, 60)


def test_render_is_browser_playable_with_source_timing(jump_run: Path) -> None:
    info = probe_video(jump_run / "render.mp4")
    assert info.codec == "h264" and info.pixel_format == "yuv420p"
    assert info.n_frames == 171 and info.fps == pytest.approx(24.0)
    assert info.size == (398, 288)


def test_second_run_reuses_the_cached_analysis(jump_run: Path, tiny_weights: Path, examples_dir: Path) -> None:
    work = jump_run.parent / "work"
    runs_before = sorted(p.name for p in (work / "runs").iterdir())
    proc = run_cli(
        str(examples_dir / "jump.mp4"),
        "--out", str(jump_run.parent / "again"),
        "--weights", str(tiny_weights),
        "--boxes", str(jump_run.parent / "boxes.json"),
        env_extra={"LART_DEMO_OUTPUT_DIR": str(work)},
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (work / "runs").iterdir()) == runs_before
    assert json.loads((jump_run.parent / "again" / "results.json").read_text())["tracks"]


def test_real_detector_path_runs_on_a_short_window(tmp_path: Path, tiny_weights: Path, examples_dir: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(
        str(examples_dir / "jump.mp4"), "--out", str(out), "--weights", str(tiny_weights),
        "--end", "0.25", "--no-render",
        env_extra={"LART_DEMO_OUTPUT_DIR": str(tmp_path / "work")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = read_result_json(out / "results.json")
    assert result.clip.n_frames == 6
    assert any("as you chose" in cap for cap in result.clip.caps_applied)
    assert not (out / "render.mp4").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["does-not-exist.mp4", "--out", "x"], "is missing"),
        (["https://vimeo.com/12345", "--out", "x"], "YouTube"),
    ],
)
def test_bad_input_is_one_line_without_traceback(
    args: list[str], message: str, tiny_weights: Path, tmp_path: Path
) -> None:
    proc = run_cli(
        *args, "--weights", str(tiny_weights), env_extra={"LART_DEMO_OUTPUT_DIR": str(tmp_path)}, timeout=120
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert message.lower() in proc.stderr.lower()


def test_missing_weights_say_what_to_do(tmp_path: Path, examples_dir: Path) -> None:
    proc = run_cli(
        str(examples_dir / "jump.mp4"), "--out", str(tmp_path / "o"), "--weights", str(tmp_path / "empty"),
        env_extra={"LART_DEMO_OUTPUT_DIR": str(tmp_path / "work")}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    error = next(line for line in proc.stderr.splitlines() if line.startswith("error:"))
    for way in ("LART_DEMO_HF_REPO", "weights import", "copy the files", "make-random"):
        assert way in error, (way, proc.stderr)


@pytest.mark.parametrize(("clip", "frames"), [("jump.mp4", 8), ("phalp_vid.mp4", 9)])
def test_track_subcommand_on_the_real_clips(clip: str, frames: int, tmp_path: Path, tiny_weights: Path) -> None:
    """`python -m lart_demo track` (random detector, tiny weights) writes tracks.pkl + tracks.json; a short cap keeps
    it quick on CPU (the random detector reports many 'people' per frame)."""
    from conftest import EXAMPLES

    proc = run_cli(
        "track", str(EXAMPLES / clip), "--out", str(tmp_path), "--weights", str(tiny_weights), "--max-duration", "0.3",
        env_extra={"LART_DEMO_OUTPUT_DIR": str(tmp_path / "work")}, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "tracks.json").read_text())
    assert summary["frames"] == frames
    results = read_results(tmp_path / "tracks.pkl")
    assert len(results) == frames
    for person in summary["people"]:
        assert 0 <= person["first_frame"] <= person["last_frame"] < frames


def test_exports_are_written_by_default(jump_run: Path) -> None:
    import webvtt
    from bvh import Bvh

    result = read_result_json(jump_run / "results.json")
    expected = {"actions_vtt", "actions_srt", "events_csv", "events_json", "ava_predictions_csv"}
    for tid in (1, 2):
        expected |= {f"person_{tid}_bvh", f"person_{tid}_smpl_npz"}
    assert expected <= set(result.files)
    for tid in (1, 2):
        with np.load(jump_run / f"person_{tid}_smpl.npz") as npz:
            frames = npz["frame_index"]
            assert npz["poses"].shape == (len(frames), 72) and npz["trans"].shape == (len(frames), 3)
            assert float(npz["mocap_framerate"]) == pytest.approx(24.0)
        mocap = Bvh((jump_run / f"person_{tid}.bvh").read_text())
        assert mocap.nframes == frames[-1] - frames[0] + 1
        assert mocap.frame_time == pytest.approx(1 / 24, abs=1e-6)
    cues = webvtt.read(str(jump_run / "actions.vtt"))
    assert cues[0].text == "random weights: predictions are meaningless"
    assert {c.text.split(":")[0] for c in cues[1:]} == {"#1", "#2"}
    events = json.loads((jump_run / "events.json").read_text())
    assert events["threshold"] == 0.5 and events["random_weights"]
    assert all(e["peak_prob"] >= 0.5 and e["start_s"] < e["end_s"] for e in events["events"])
    rows = list(csv.reader((jump_run / "ava_predictions.csv").read_text().splitlines()))
    assert {r[1] for r in rows} <= {f"{s:04d}" for s in range(8)}  # 171 frames at 24 fps: keyframes 0..7 s
    assert all(len(r) == 8 and r[0] == "jump" for r in rows)
