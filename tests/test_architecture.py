"""The package's shape: no import cycles, and PHALP's key layout only where it belongs."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "check_import_cycles.py"


def test_no_import_cycles() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 cycles" in done.stdout


def test_the_checker_finds_a_cycle() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from check_import_cycles import find_cycles
    finally:
        sys.path.remove(str(SCRIPT.parent))
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_upstream_misspelt_key_stays_out_of_the_stages() -> None:
    """`apperance_emb` (upstream's spelling) may only appear in comments about upstream, never as a key."""
    for path in (REPO_ROOT / "lart_demo").rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            assert '"apperance_emb"' not in code and "'apperance_emb'" not in code, f"{path}:{number}"
