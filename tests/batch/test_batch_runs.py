"""Whole batches on real clips with tiny random weights: in this process, on a local Ray with 2 workers, and
stopped with Ctrl-C. Each input's results must equal what the single-video CLI writes for it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from batch.summary import read_summary
from conftest import REPO_ROOT

from lart_demo.batch.ledger import STATE_FILE
from lart_demo.batch.runner import WORK_DIR
from lart_demo.cli import main
from lart_demo.stages.tracking.tracks import read_results
from lart_demo.video.examples import write_example_clip

pytestmark = pytest.mark.slow

# ~1 s clips of different sizes and lengths; the known boxes (>= the tracker's minimum person size) fit all of them
CLIPS = {"walk.mp4": (12, (320, 240)), "long name (2).mp4": (14, (336, 240)), "sub/wave.mp4": (12, (320, 256))}
EXPECTED_ORDER = ["broken.mp4", "long name (2).mp4", "walk.mp4", "wave.mp4"]  # name order, sub-folders after files


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch_inputs")
    videos = root / "videos"
    for name, (n_frames, size) in CLIPS.items():
        write_example_clip(videos / name, n_frames=n_frames, fps=12.0, size=size)
    good = (videos / "walk.mp4").read_bytes()
    (videos / "broken.mp4").write_bytes(good[len(good) // 3 :])  # a file that lost its start: no container header
    frames = {
        str(i): [[20 + 2 * i, 10, 135 + 2 * i, 230, 0.95], [180 - 2 * i, 5, 295 - 2 * i, 225, 0.9]] for i in range(14)
    }
    (root / "boxes.json").write_text(json.dumps({"frames": frames}), encoding="utf-8")  # stages/boxes.py's format
    return root


@pytest.fixture(scope="module")
def options(inputs: Path, tiny_weights: Path) -> list[str]:
    return ["--weights", str(tiny_weights), "--boxes", str(inputs / "boxes.json"), "--no-render"]


@pytest.fixture(scope="module")
def singles(inputs: Path, options: list[str]) -> dict[str, Path]:
    """Each clip through the single-video CLI, the reference every batch must match."""
    out: dict[str, Path] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LART_DEMO_OUTPUT_DIR", str(inputs / "single-work"))
        for name in CLIPS:
            target = inputs / "single" / Path(name).stem
            assert main([str(inputs / "videos" / name), "--out", str(target), *options]) == 0
            out[Path(name).name] = target
    return out


def deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def comparable_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    data.pop("timings_s")
    data.pop("created_utc")
    return data


def assert_same_as_single(batch_folder: Path, single: Path) -> None:
    assert comparable_json(batch_folder / "results.json") == comparable_json(single / "results.json")
    assert (batch_folder / "actions.csv").read_bytes() == (single / "actions.csv").read_bytes()
    assert deep_equal(read_results(batch_folder / "tracks.pkl"), read_results(single / "tracks.pkl"))
    assert sorted(p.name for p in batch_folder.rglob("*")) == sorted(p.name for p in single.rglob("*"))


def published_runs(out: Path) -> list[Path]:
    """Runs left in the batch's private run cache."""
    return [p for p in (out / WORK_DIR / "runs").iterdir() if not p.name.startswith(".")]


def assert_first_run(out: Path, singles: dict[str, Path]) -> None:
    rows = read_summary(out / "batch.csv")
    assert [Path(r["input"]).name for r in rows] == EXPECTED_ORDER
    by_name = {Path(r["input"]).name: r for r in rows}
    broken = by_name.pop("broken.mp4")
    assert broken["status"] == "failed" and broken["reason"] and broken["output"] == ""
    assert not any(out.glob("broken-*"))
    for name, row in by_name.items():
        assert row["status"] == "ok", row
        assert int(row["frames"]) in (12, 14) and int(row["tracks"]) >= 1 and float(row["duration_s"]) > 0.9
        assert_same_as_single(out / row["output"], singles[name])
    assert not published_runs(out)  # every finished run was moved into its result folder


def assert_all_skipped(out: Path) -> None:
    rows = read_summary(out / "batch.csv")
    assert [r["status"] for r in rows] == ["skipped"] * 4
    assert "failed before" in rows[0]["reason"]
    assert all(r["output"] and (out / r["output"] / "results.json").is_file() for r in rows[1:])


ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lart_demo", *args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


def wait_for_process(title: str, parent: subprocess.Popen, timeout: float = 600) -> int:
    """The pid of the first process whose command line starts with `title` (Ray names its workers' processes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and parent.poll() is None:
        listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            pid, _, args = line.strip().partition(" ")
            if args.startswith(title):
                return int(pid)
        time.sleep(0.1)
    raise AssertionError(f"no {title} process appeared")


def test_in_process_batch_equals_the_single_video_cli_and_resumes(
    inputs: Path, options: list[str], singles: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = inputs / "out-in-process"
    assert main(["batch", str(inputs / "videos"), "--out", str(out), *options]) == 1  # 1: an input failed
    err = capsys.readouterr().err
    assert "[4/4]" in err and "ETA" in err and "3 ok, 1 failed, 0 skipped" in err
    assert_first_run(out, singles)

    assert main(["batch", str(inputs / "videos"), "--out", str(out), *options]) == 0
    assert_all_skipped(out)

    assert main(["batch", str(inputs / "videos"), "--out", str(out), *options, "--retry-failed"]) == 1
    assert [r["status"] for r in read_summary(out / "batch.csv")] == ["failed", "skipped", "skipped", "skipped"]

    # other options: the input is analysed again into the same folder, and the old result no longer counts as done
    walk = str(inputs / "videos" / "walk.mp4")
    folder = {Path(r["input"]).name: r["output"] for r in read_summary(out / "batch.csv")}["walk.mp4"]
    assert main(["batch", walk, "--out", str(out), *options, "--max-people", "1"]) == 0
    (row,) = read_summary(out / "batch.csv")
    assert row["status"] == "ok" and row["output"] == folder and row["tracks"] == "1"
    assert main(["batch", walk, "--out", str(out), *options]) == 0
    assert read_summary(out / "batch.csv")[0]["status"] == "ok"


def test_ray_batch_with_two_workers_equals_the_single_video_cli(
    inputs: Path, options: list[str], singles: dict[str, Path]
) -> None:
    pytest.importorskip("ray")
    out = inputs / "out-ray"
    proc = run_cli("batch", str(inputs / "videos"), "--out", str(out), "--workers", "2", *options)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Starting a local Ray instance with 2 workers" in proc.stderr
    assert_first_run(out, singles)

    again = run_cli("batch", str(inputs / "videos"), "--out", str(out), "--workers", "2", *options, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Ray" not in again.stderr  # nothing to analyse: no workers were started
    assert_all_skipped(out)

    # a worker killed while it analyses (what the OOM killer does): that input fails, the batch finishes, and since
    # it was not the input's fault the next run analyses it again
    walk = next(r for r in read_summary(out / "batch.csv") if r["input"].endswith("walk.mp4"))
    shutil.rmtree(out / walk["output"])
    args = ["batch", str(inputs / "videos"), "--out", str(out), "--workers", "2", *options]
    proc = subprocess.Popen([sys.executable, "-m", "lart_demo", *args], env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        os.kill(wait_for_process("ray::BatchWorker.process", proc), signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-3000:]
    rows = {Path(r["input"]).name: r for r in read_summary(out / "batch.csv")}
    assert rows["walk.mp4"]["status"] == "failed" and "worker" in rows["walk.mp4"]["reason"]
    assert all(r["status"] == "skipped" for name, r in rows.items() if name != "walk.mp4")
    assert main(["batch", str(inputs / "videos" / "walk.mp4"), "--out", str(out), *options]) == 0
    (row,) = read_summary(out / "batch.csv")
    assert row["status"] == "ok"
    assert_same_as_single(out / row["output"], singles["walk.mp4"])


def test_ctrl_c_leaves_a_consistent_batch_that_a_rerun_continues(
    inputs: Path, options: list[str], singles: dict[str, Path]
) -> None:
    out = inputs / "out-interrupted"
    args = [sys.executable, "-m", "lart_demo", "batch", str(inputs / "videos"), "--out", str(out), *options]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        state = out / STATE_FILE
        # the broken file fails at once; Ctrl-C once the first clip is done, while the next one is being analysed
        while not (state.is_file() and len(state.read_text().splitlines()) >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "Run the same command again" in err
    rows = read_summary(out / "batch.csv")
    assert len(rows) < 4 and [Path(r["input"]).name for r in rows] == EXPECTED_ORDER[: len(rows)]
    assert len(state.read_text().splitlines()) == len(rows)
    assert all(r["status"] == "failed" or (out / r["output"] / "results.json").is_file() for r in rows)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        ["batch.csv", *(r["output"] for r in rows if r["output"])]
    )
    # the stopped run left nothing half-written (only the run cache's lock files)
    assert not [p for p in (out / WORK_DIR / "runs").rglob("*") if p.is_file() and p.suffix != ".lock"]

    proc = run_cli("batch", str(inputs / "videos"), "--out", str(out), *options)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rerun = read_summary(out / "batch.csv")
    assert [r["status"] for r in rerun[: len(rows)]] == ["skipped"] * len(rows)
    assert [r["status"] for r in rerun[len(rows) :]] == ["ok"] * (4 - len(rows))
    for row in rerun[1:]:
        assert_same_as_single(out / row["output"], singles[Path(row["input"]).name])
