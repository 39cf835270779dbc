"""Run tokens bind a run to the session that made it; loaded runs stay few."""

from __future__ import annotations

from pathlib import Path

from lart_demo.app.sessions import SECRET_FILE, LoadedRuns, RunTokens


def test_tokens_verify_only_for_their_session_and_survive_a_restart(tmp_path: Path) -> None:
    tokens = RunTokens(tmp_path)
    token = tokens.token("session-a", "abc123")
    assert tokens.run_id("session-a", token) == "abc123"
    assert tokens.run_id("session-b", token) is None
    assert tokens.run_id("session-a", "abc123.0000") is None
    assert tokens.run_id("session-a", "") is None and tokens.run_id("session-a", None) is None
    assert tokens.run_id("session-a", tokens.token("session-a", "other")) == "other"
    restarted = RunTokens(tmp_path)  # the key is on disk: tokens issued before a restart still verify
    assert restarted.run_id("session-a", token) == "abc123"
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o077 == 0  # readable by the server's user only
    assert RunTokens(tmp_path / "elsewhere").run_id("session-a", token) is None


def test_loaded_runs_are_a_bounded_lru() -> None:
    runs = LoadedRuns(size=2)
    runs.put("a", "A")  # type: ignore[arg-type]
    runs.put("b", "B")  # type: ignore[arg-type]
    assert runs.get("a") == "A"  # a is now the most recent
    runs.put("c", "C")  # type: ignore[arg-type]
    assert (runs.get("b"), runs.get("a"), runs.get("c"), len(runs)) == (None, "A", "C", 2)
