"""Trust on first download: the lock file records each verified file; a changed file is refused and moved aside."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from loopback_http import LoopbackServer

from lart_demo.config import Settings
from lart_demo.errors import WeightsError
from lart_demo.weights import lock
from lart_demo.weights.cli import weights_cli
from lart_demo.weights.fetch import download_weights
from lart_demo.weights.manifest import load_manifest
from lart_demo.weights.status import lock_verified_files, missing_for, weights_status


@pytest.fixture()
def served(tmp_path: Path):
    server = LoopbackServer()
    server.files["/cfg.yaml"] = b"configs:\n  a: 1\n"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "stages": {"pose": ""},
                "files": [
                    {
                        "id": "cfg",
                        "path": "x/cfg.yaml",
                        "required_for": ["pose"],
                        "check": {"kind": "yaml"},  # no sha256 in the manifest: trust on first download
                        "sources": [{"url": server.url("/cfg.yaml")}],
                    }
                ],
            }
        )
    )
    yield server, load_manifest(manifest), manifest
    server.close()


def test_first_download_is_recorded_and_a_tampered_file_is_refused(
    tmp_path: Path, served: tuple, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    server, manifest, manifest_path = served
    root = tmp_path / "w"
    settings = Settings(weights_dir=root)
    download_weights(settings, manifest=manifest, hub_download=None)
    recorded = lock.read_lock(root)["x/cfg.yaml"]
    assert recorded.sha256 == hashlib.sha256(server.files["/cfg.yaml"]).hexdigest()
    assert all(s.present for s in weights_status(settings, manifest))

    target = root / "x" / "cfg.yaml"
    target.write_bytes(b"configs:\n  a: 2\n")  # same size, other content
    monkeypatch.setattr("lart_demo.weights.manifest.MANIFEST_PATH", manifest_path)
    assert weights_cli(["status", "--weights", str(root)]) == 1
    out = capsys.readouterr().out
    assert "REFUSED: sha256" in out and "recorded on first download" in out
    assert not target.exists()  # never used: moved aside
    (moved,) = (root / lock.REJECTED_DIR).rglob("cfg.yaml.*")
    assert moved.read_bytes() == b"configs:\n  a: 2\n"
    assert [s.id for s in missing_for(settings, ["pose"], manifest)] == ["cfg"]

    # a later download must match what was trusted first
    server.files["/cfg.yaml"] = b"configs:\n  a: 3\n"
    with pytest.raises(WeightsError, match=r"differs from the .* recorded on first download"):
        download_weights(settings, manifest=manifest, hub_download=None)
    assert not target.exists()
    server.files["/cfg.yaml"] = b"configs:\n  a: 1\n"
    download_weights(settings, manifest=manifest, hub_download=None)
    assert target.read_bytes() == b"configs:\n  a: 1\n"


def test_a_touched_but_unchanged_file_stays(tmp_path: Path, served: tuple) -> None:
    _, manifest, _ = served
    root = tmp_path / "w"
    download_weights(Settings(weights_dir=root), manifest=manifest, hub_download=None)
    target = root / "x" / "cfg.yaml"
    target.write_bytes(target.read_bytes())  # new mtime, same bytes
    assert all(s.present for s in weights_status(Settings(weights_dir=root), manifest))
    assert target.is_file()
    assert lock.read_lock(root)["x/cfg.yaml"].mtime_ns == target.stat().st_mtime_ns


def test_files_copied_by_hand_are_locked_once_they_verify(tmp_path: Path, served: tuple, tiny_weights: Path) -> None:
    _, manifest, _ = served
    root = tmp_path / "w"
    (root / "x").mkdir(parents=True)
    (root / "x" / "cfg.yaml").write_bytes(b"configs: {a: 1}\n")
    assert lock_verified_files(Settings(weights_dir=root), manifest) == ["x/cfg.yaml"]
    assert "x/cfg.yaml" in lock.read_lock(root)
    assert lock_verified_files(Settings(weights_dir=root), manifest) == []  # already trusted
    (root / "x" / "cfg.yaml").write_bytes(b"- not a mapping\n")
    lock.lock_path(root).unlink()
    with pytest.raises(WeightsError, match="not a valid yaml file"):
        lock_verified_files(Settings(weights_dir=root), manifest)  # a file that fails its check is never trusted
    assert lock_verified_files(Settings(weights_dir=tiny_weights)) == []  # random weights are never locked
