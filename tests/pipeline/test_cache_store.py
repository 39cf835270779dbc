"""The run cache: LRU eviction under a size cap, one computation per key across real processes, atomic publish."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lart_demo.cli import main
from lart_demo.errors import InputError
from lart_demo.pipeline.cache_store import COMPLETE_MARKER, RunCache, cache_bytes


def _publish(cache: RunCache, key: str, size: int) -> Path:
    build = cache.new_build_dir(key)
    (build / "video.mp4").write_bytes(b"x" * size)
    (build / COMPLETE_MARKER).write_text("{}")
    return cache.publish(key, build)


def _age(path: Path, seconds_ago: float) -> None:
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_publish_lookup_and_lru_eviction(tmp_path: Path) -> None:
    cache = RunCache(tmp_path, cap_bytes=2500)
    a = _publish(cache, "a", 1000)
    _age(a, 30)
    b = _publish(cache, "b", 1000)
    _age(b, 20)
    assert cache.lookup("a") == a  # a use refreshes a: b is now the least recently used
    _publish(cache, "c", 1000)  # 3 x 1000 bytes > 2500: one run goes
    assert [e.key for e in cache.entries()] == ["c", "a"]
    assert cache.lookup("b") is None and not b.exists()
    # the run just published stays even when it alone exceeds the cap
    _publish(cache, "big", 5000)
    assert [e.key for e in cache.entries()] == ["big"]
    assert not any((tmp_path / "runs" / ".building").iterdir())  # no build or trash folder left


def test_unfinished_builds_are_invisible_and_discarded(tmp_path: Path) -> None:
    cache = RunCache(tmp_path, cap_bytes=10**9)
    build = cache.new_build_dir("k")
    (build / "video.mp4").write_bytes(b"partial")
    assert cache.lookup("k") is None and cache.entries() == []
    cache.discard(build)
    assert not build.exists()


def test_status_clear_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = RunCache(tmp_path, cap_bytes=cache_bytes(1.5))
    _publish(cache, "a", 300)
    _publish(cache, "b", 200)
    status = cache.status()
    assert status.used_bytes >= 500 and len(status.entries) == 2 and status.cap_bytes == 1_500_000_000
    assert main(["cache", "status", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 run(s)" in out and "of 20.00 GB" in out
    with cache.lock("b"):  # a run another process is reading or building is not removed under it
        assert cache.clear()[0] == 1
    assert [e.key for e in cache.entries()] == ["b"]
    assert main(["cache", "clear", "--output-dir", str(tmp_path)]) == 0
    assert "Removed 1 cached run(s)" in capsys.readouterr().out and cache.entries() == []


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_cap(bad: float) -> None:
    with pytest.raises(InputError, match="LART_DEMO_CACHE_GB"):
        cache_bytes(bad)


WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lart_demo.pipeline.cache_store import COMPLETE_MARKER, RunCache

    out, name = Path(sys.argv[1]), sys.argv[2]
    cache = RunCache(out, cap_bytes=10**9)
    with cache.wait_for("key", on_wait=lambda: None, poll_s=0.05):
        found = cache.lookup("key")
        if found is None:
            with (out / "computed.log").open("a") as fh:
                fh.write(name + "\\n")
            build = cache.new_build_dir("key")
            (build / "video.mp4").write_bytes(b"v" * 1000)
            time.sleep(1.5)  # the other process asks for the same key meanwhile
            (build / COMPLETE_MARKER).write_text(name)
            found = cache.publish("key", build)
    print(found, (found / COMPLETE_MARKER).read_text())
    """
)


@pytest.mark.slow
def test_two_processes_compute_once(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = []
    for name in ("first", "second"):
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path), name], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env))  # fmt: skip
        time.sleep(0.3)
    # a third process only reads: once the run is published it never disappears
    seen_missing_after_publish = False
    seen = False
    target = tmp_path / "runs" / "key" / COMPLETE_MARKER
    while any(p.poll() is None for p in procs):
        exists = target.is_file()
        seen_missing_after_publish |= seen and not exists
        seen |= exists
    outputs = [p.communicate()[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs), [p.stderr for p in procs]
    assert (tmp_path / "computed.log").read_text().split() == ["first"]  # the second waited and reused it
    assert outputs[0] == outputs[1] == [str(tmp_path / "runs" / "key"), "first"]
    assert seen and not seen_missing_after_publish


def test_second_publish_of_a_key_keeps_the_first(tmp_path: Path) -> None:
    """Two builds of one key (a lock file evicted between them): the published folder is never replaced."""
    cache = RunCache(tmp_path, cap_bytes=10**9)
    first, second = cache.new_build_dir("k"), cache.new_build_dir("k")
    for build, text in ((first, "first"), (second, "second")):
        (build / COMPLETE_MARKER).write_text(text)
    cache.publish("k", first)
    assert (cache.publish("k", second) / COMPLETE_MARKER).read_text() == "first"
    assert not second.exists()
