"""`python -m lart_demo batch`: its options, and the one-line messages it gives before any work starts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lart_demo.batch.runner import PoolOptions
from lart_demo.cli import main
from lart_demo.errors import InputError


def test_batch_takes_the_single_video_analysis_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--workers", "--ray-address", "--gpus-per-worker", "--retry-failed", "--boxes", "--max-people",
                 "--no-render", "--start", "--end", "--fps", "--weights", "--device", "--style"):  # fmt: skip
        assert flag in out, flag


def test_without_ray_more_workers_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what a machine without the batch extra sees
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    assert main(["batch", str(clip), "--out", str(tmp_path / "out"), "--workers", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "requirements-batch.txt" in err and "--workers 1" in err
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize(
    ("args", "message"), [(["--workers", "0"], "--workers"), (["--cpus-per-worker", "0"], "--cpus-per-worker")]
)
def test_bad_worker_counts_are_refused(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), *args]) == 1
    assert message in capsys.readouterr().err


def test_an_empty_list_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "list.txt").write_text("# nothing yet\n", encoding="utf-8")
    assert main(["batch", str(tmp_path / "list.txt"), "--out", str(tmp_path / "out")]) == 1
    assert "no videos" in capsys.readouterr().err


def test_a_cluster_too_small_for_the_workers_is_refused() -> None:
    pytest.importorskip("ray")
    from lart_demo.batch.ray_workers import check_resources

    check_resources({"CPU": 8.0, "GPU": 2.0}, PoolOptions(workers=2, cpus_per_worker=4, gpus_per_worker=1))
    with pytest.raises(InputError, match="needs 3 GPUs but the Ray cluster has 2"):
        check_resources({"CPU": 8.0, "GPU": 2.0}, PoolOptions(workers=3, gpus_per_worker=1))
    with pytest.raises(InputError, match="needs 4 CPUs"):
        check_resources({"CPU": 2.0}, PoolOptions(workers=2, cpus_per_worker=2))
