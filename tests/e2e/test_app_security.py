"""Security and data hygiene on a real Gradio server, through gradio_client (issue 13).

Link field: YouTube video links only, one refusal message whatever exists on the server. Weight files:
a payload that would exec is refused and nothing runs. Disk: LRU run cache, no empty temp files,
downloads removed after use and on failure. API: `predict(video=...)` and `predict(url=...)` alone.
Segment search: any run of the session, after a restart too, never another session's.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradio_client import Client, handle_file
from yt_dlp.utils import DownloadError

from lart_demo.app import build_ui, launch_kwargs
from lart_demo.app.layout import DELETE_CACHE
from lart_demo.cli import main as cli_main
from lart_demo.config import Settings
from lart_demo.pipeline.cache_store import RunCache
from lart_demo.video import sources
from lart_demo.video.examples import write_example_clip
from lart_demo.video.sources import LINK_REFUSED

pytestmark = pytest.mark.slow

VIDEO_ID = "dQw4w9WgXcQ"
FRAMES = 8


class Server:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.demo = build_ui(settings)
        self.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(settings))
        self.client = Client(self.demo.local_url, verbose=False)

    def close(self) -> None:
        self.demo.close()


@pytest.fixture(scope="module")
def gradio_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Gradio's upload/download folder for this module's servers (read when components are built)."""
    folder = tmp_path_factory.mktemp("gradio_tmp")
    old = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    yield folder
    if old is None:
        del os.environ["GRADIO_TEMP_DIR"]
    else:
        os.environ["GRADIO_TEMP_DIR"] = old


@pytest.fixture(scope="module")
def server(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory, gradio_tmp: Path) -> Iterator[Server]:
    out = tmp_path_factory.mktemp("security_out")
    srv = Server(Settings(weights_dir=tiny_weights, output_dir=out, device="cpu"))
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    return [write_example_clip(folder / f"clip{i}.mp4", n_frames=FRAMES + i) for i in range(2)]


@pytest.fixture(scope="module")
def first_run(server: Server, clips: list[Path]) -> tuple:
    return server.client.predict(video=handle_file(str(clips[0])), api_name="/analyze")


def _done(status: str) -> bool:
    return "**Done**" in status


# ------------------------------------------------------------------------------------------ API ergonomics


def test_predict_with_only_a_video(server: Server, first_run: tuple) -> None:
    parameters = server.client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/analyze"]
    assert [p["parameter_name"] for p in parameters["parameters"]][:2] == ["video", "url"]
    assert all(p["parameter_has_default"] for p in parameters["parameters"])
    status, _player, downloads, *_rest, token = first_run
    assert _done(status) and f"over {FRAMES} frames" in status, status
    assert {Path(p).name for p in downloads} >= {"results.json", "actions.csv", "tracks.pkl"}
    assert token.count(".") == 1


class _FakeYoutube:
    """yt-dlp stand-in inside the server process: 'downloads' a local clip, or fails half-way."""

    def __init__(self, options: dict[str, Any], clip: Path, fail: bool) -> None:
        self.params, self.clip, self.fail = dict(options), clip, fail

    def __enter__(self) -> _FakeYoutube:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def extract_info(self, url: str, download: bool = True) -> dict[str, Any]:
        assert url == f"https://www.youtube.com/watch?v={VIDEO_ID}"  # only ever the canonical link
        return {"id": VIDEO_ID, "duration": 1.0, "is_live": False}

    def process_ie_result(self, info: dict[str, Any], download: bool = True) -> dict[str, Any]:
        folder = Path(self.params["paths"]["home"])
        (folder / f"{VIDEO_ID}.mp4.part").write_bytes(b"partial")
        if self.fail:
            raise DownloadError("ERROR: [youtube] dQw4w9WgXcQ: Video unavailable")
        target = folder / f"{VIDEO_ID}.mp4"
        shutil.copy(self.clip, target)
        return {**info, "requested_downloads": [{"filepath": str(target)}]}


def test_predict_with_only_a_url_and_downloads_are_removed(
    server: Server, clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Path(server.settings.output_dir) / "work"
    monkeypatch.setattr(sources, "_default_factory", lambda options: _FakeYoutube(options, clips[1], fail=False))
    status, *_ = server.client.predict(url=f"https://music.youtube.com/watch?v={VIDEO_ID}", api_name="/analyze")
    assert _done(status) and f"over {FRAMES + 1} frames" in status, status
    assert not work.exists() or list(work.rglob("*")) == []  # the download went once the run was over
    monkeypatch.setattr(sources, "_default_factory", lambda options: _FakeYoutube(options, clips[1], fail=True))
    status, *_ = server.client.predict(url=f"https://youtu.be/{VIDEO_ID}?si=x", api_name="/analyze")
    assert status.startswith("**Error:**") and "unavailable" in status, status
    assert not work.exists() or list(work.rglob("*")) == []  # and on failure too


# ------------------------------------------------------------------------------------------ link field


def test_server_paths_in_the_link_field_get_one_message(server: Server, clips: list[Path], tiny_weights: Path) -> None:
    refusals = [
        "/etc/passwd",
        "/etc/shadow",
        "/root/.ssh/id_rsa",
        "/home",
        str(Path.home()),
        "/definitely/not/there.mp4",
        str(clips[0]),  # a real video on the server
        str(tiny_weights),  # a real folder on the server
        f"file://{clips[0]}",
        "../../etc/passwd",
        "https://example.com/video.mp4",
        "https://www.youtube.com/playlist?list=PL123",
        "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
    ]
    statuses = {server.client.predict(url=text, api_name="/analyze")[0] for text in refusals}
    assert statuses == {f"**Cannot start:** {LINK_REFUSED}"}


# ------------------------------------------------------------------------------------------ weight files


def test_weight_file_payload_never_runs(
    tiny_weights: Path, tmp_path: Path, clips: list[Path], gradio_tmp: Path
) -> None:
    """mean_std.npy as an object array whose pickle calls numpy.testing's runstring (exec)."""
    from numpy.testing._private.utils import runstring

    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self) -> tuple:
            return (runstring, (f"open({str(marker)!r}, 'w').write('ran')", {}))

    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    mean_std = next(weights.rglob("mean_std.npy"))
    with mean_std.open("wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (2,)})
        pickle.dump((np.zeros((1, 226)), Payload()), fh, protocol=3)
    srv = Server(Settings(weights_dir=weights, output_dir=tmp_path / "out", device="cpu"))
    try:
        status, *_ = srv.client.predict(video=handle_file(str(clips[0])), api_name="/analyze")
    finally:
        srv.close()
    assert status.startswith("**Error:** Refused to load mean_std.npy: it refers to numpy.testing"), status
    assert "\n" not in status
    assert not marker.exists()


# ------------------------------------------------------------------------------------------ segment search


def test_segment_search_is_per_session_and_survives_a_restart(server: Server, first_run: tuple) -> None:
    token = first_run[-1]
    action = first_run[3] if isinstance(first_run[3], str) else first_run[3].get("value")
    mine = server.client.predict(token, action, "everyone", 0.05, api_name="/segments")
    assert "run an analysis first" not in mine and ("lp-seg" in mine or "No moments found" in mine), mine
    other = Client(server.demo.local_url, verbose=False)  # another browser session
    assert "run an analysis first" in other.predict(token, action, "everyone", 0.05, api_name="/segments")
    forged = token.split(".")[0] + ".0123456789abcdef0123456789abcdef"
    assert "run an analysis first" in server.client.predict(forged, action, "everyone", 0.05, api_name="/segments")

    # a restart: a new server on the same output folder; the page (same session) searches again
    restarted = Server(server.settings)
    try:
        restarted.client.session_hash = server.client.session_hash
        assert restarted.client.predict(token, action, "everyone", 0.05, api_name="/segments") == mine
        stranger = Client(restarted.demo.local_url, verbose=False)
        assert "run an analysis first" in stranger.predict(token, action, "everyone", 0.05, api_name="/segments")
    finally:
        restarted.close()


# ------------------------------------------------------------------------------------------ disk


def test_disk_stays_bounded(
    tiny_weights: Path, tmp_path: Path, clips: list[Path], gradio_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(weights_dir=tiny_weights, output_dir=tmp_path / "out", device="cpu", cache_gb=1e-9)
    srv = Server(settings)
    try:
        assert srv.demo.delete_cache == DELETE_CACHE  # Gradio's copies of uploads and downloads expire
        tokens = []
        for clip in clips:
            status, *_rest, token = srv.client.predict(video=handle_file(str(clip)), api_name="/analyze")
            assert _done(status), status
            tokens.append(token.split(".")[0])
    finally:
        srv.close()
    # a 1-byte cap keeps only the run published last; the first was evicted when the second was published
    assert [e.key for e in RunCache(settings.output_dir, 1).entries()] == [tokens[1]]
    assert cli_main(["cache", "status", "--output-dir", str(settings.output_dir)]) == 0
    assert "1 run(s)" in capsys.readouterr().out
    empty = [p for p in gradio_tmp.rglob("*") if p.is_file() and p.stat().st_size == 0]
    assert empty == [], empty  # Gradio's File input used to leave one empty temp file per upload


# ------------------------------------------------------------------------------------------ messages


def test_huge_numbers_read_sanely(server: Server, clips: list[Path]) -> None:
    status, *_ = server.client.predict(video=handle_file(str(clips[0])), start=1e308, api_name="/analyze")
    assert "1e+308 s" in status and len(status) < 200, status
    assert "00000000" not in status
