"""The command line's small subcommands and its error contract (in-process: `lart_demo.cli.main`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lart_demo.cli import main


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
