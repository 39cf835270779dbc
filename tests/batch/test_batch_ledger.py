"""The batch's records: the resumable state log and batch.csv."""

from __future__ import annotations

import os
from pathlib import Path

from batch.summary import read_summary

from lart_demo.batch.inputs import expand_inputs
from lart_demo.batch.ledger import COLUMNS, STATE_FILE, Outcome, State, Summary
from lart_demo.pipeline.cache import file_sha256


def video(tmp_path: Path, name: str = "a.mp4", data: bytes = b"frames") -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def done_folder(out: Path, name: str) -> str:
    (out / name).mkdir(parents=True, exist_ok=True)
    (out / name / "results.json").write_text("{}")
    return name


def test_state_survives_a_restart_and_the_last_record_wins(tmp_path: Path) -> None:
    out = tmp_path / "out"
    item = expand_inputs([str(video(tmp_path))])[0]
    state = State(out)
    state.add("k1", "d1", item, Outcome(item.label, "failed", "bad frame"))
    state.add("k1", "d1", item, Outcome(item.label, "ok", output=done_folder(out, "a-1"), frames=12, tracks=2))
    again = State(out)
    record = again.finished("k1")
    assert record is not None and record.outcome.status == "ok" and record.outcome.frames == 12
    assert again.finished("other") is None


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    out = tmp_path / "out"
    item = expand_inputs([str(video(tmp_path))])[0]
    State(out).add("k1", "d1", item, Outcome(item.label, "failed", "broken"))
    with (out / STATE_FILE).open("a") as fh:
        fh.write('{"key": "k2", "digest": "d')  # what a power cut mid-write leaves
    state = State(out)
    assert state.finished("k1") is not None and state.finished("k2") is None


def test_a_done_input_whose_folder_is_gone_or_replaced_is_not_done(tmp_path: Path) -> None:
    out = tmp_path / "out"
    item = expand_inputs([str(video(tmp_path))])[0]
    state = State(out)
    state.add("old-options", "d", item, Outcome(item.label, "ok", output=done_folder(out, "a-1")))
    state.add("new-options", "d", item, Outcome(item.label, "ok", output="a-1"))  # same folder, other options
    assert state.finished("old-options") is None
    assert state.finished("new-options") is not None
    (out / "a-1" / "results.json").unlink()
    assert State(out).finished("new-options") is None


def test_an_unchanged_file_is_not_hashed_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = video(tmp_path)
    item = expand_inputs([str(path)])[0]
    state = State(out)
    state.add("k", "recorded-digest", item, Outcome(item.label, "failed", "x"))
    assert State(out).digest(item) == "recorded-digest"
    recorded_mtime = path.stat().st_mtime_ns
    path.write_bytes(b"FRAMES")  # same size, new content and time: read again
    os.utime(path, ns=(recorded_mtime + 10**9, recorded_mtime + 10**9))
    assert State(out).digest(item) == file_sha256(path) != "recorded-digest"


def test_summary_rows_follow_input_order_with_every_column(tmp_path: Path) -> None:
    summary = Summary(tmp_path)
    summary.set(2, Outcome("c.mp4", "failed", 'a "quoted", reason'))
    summary.set(0, Outcome("a.mp4", "ok", duration_s=1.23456, frames=30, tracks=2, output="a-1", elapsed_s=4.0))
    rows = read_summary(tmp_path / "batch.csv")
    assert list(rows[0]) == list(COLUMNS)
    assert [r["input"] for r in rows] == ["a.mp4", "c.mp4"]
    assert rows[0]["duration_s"] == "1.23" and rows[0]["tracks"] == "2" and rows[0]["output"] == "a-1"
    assert rows[1]["reason"] == 'a "quoted", reason' and rows[1]["frames"] == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.csv"]  # no temporary file left beside it
