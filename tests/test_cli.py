"""The command line's small subcommands and its error contract (in-process: `lart_demo.cli.main`)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from lart_demo.cli import ProgressPrinter, main


def test_probe_prints_the_clip_facts(examples_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", str(examples_dir / "jump.mp4")]) == 0
    out = capsys.readouterr().out
    assert "398" in out and "288" in out and "24" in out and "171" in out


def test_probe_of_a_bad_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20)
    assert main(["probe", str(fake)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err


def test_help_names_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("probe", "people", "track", "batch", "weights"):
        assert name in out


def test_stage_subcommands_take_no_trim_options(capsys: pytest.CaptureFixture[str]) -> None:
    # people/track read the whole (capped) video: they must refuse options they would ignore
    with pytest.raises(SystemExit):
        main(["track", "clip.mp4", "--out", "x", "--start", "3"])
    assert "--start" in capsys.readouterr().err


def test_progress_in_a_log_is_one_line_per_change(capsys: pytest.CaptureFixture[str]) -> None:
    progress = ProgressPrinter()
    for done in (0, 0, 0, 1, 1, 2):  # MViT reports inside a backbone pass with the same count
        progress("Appearance features (MViT)", done, 2)
    progress("Rendering", 0, None)
    progress("Rendering", 0, None)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "Appearance features (MViT): 0/2",
        "Appearance features (MViT): 1/2",
        "Appearance features (MViT): 2/2",
        "Rendering...",
    ]


def test_progress_on_a_terminal_rewrites_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    stream.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stderr", stream)
    progress = ProgressPrinter()
    for done in (0, 1, 1, 2):
        progress("Tracking", done, 2)
    assert stream.getvalue() == "\rTracking: 0/2\rTracking: 1/2\rTracking: 2/2\n"
