"""Sources are tried in order: the user's Hub mirror (only when set), utexas, camenduru (pinned), Berkeley."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.parse
from pathlib import Path

import pytest
from loopback_http import LoopbackServer

from lart_demo.config import Settings, settings_from_env
from lart_demo.weights.fetch import download_weights
from lart_demo.weights.manifest import load_manifest

HOST_ORDER = ("www.cs.utexas.edu", "huggingface.co", "people.eecs.berkeley.edu", "download.pytorch.org")


def test_real_manifest_tries_utexas_then_camenduru_then_berkeley() -> None:
    manifest = load_manifest()
    for entry in manifest.files:
        urls = []
        for src in entry.sources:
            urls.extend([src.url] if src.url else manifest.archives[src.archive].urls if src.archive else [])
        ranks = [HOST_ORDER.index(urllib.parse.urlsplit(u).hostname) for u in urls]
        assert ranks == sorted(ranks), f"{entry.id}: {urls}"
        for url in urls:
            if "huggingface.co" in url:
                # camenduru/4D-Humans only at a pinned revision, and only its HMR2 archive (never its SMPL)
                assert url.startswith("https://huggingface.co/camenduru/4D-Humans/resolve/")
                revision = url.split("/resolve/")[1].split("/")[0]
                assert len(revision) == 40 and url.endswith("/hmr2_data.tar.gz")
        if entry.id.startswith(("lart_", "mvit_", "ava_")):
            assert urls[0].startswith("https://www.cs.utexas.edu/~pavlakos/phalp/ava/")
    assert manifest.archives["hmr2_data"].urls[0] == "https://www.cs.utexas.edu/~pavlakos/4dhumans/hmr2_data.tar.gz"


def test_no_hub_source_unless_the_user_names_a_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LART_DEMO_HF_REPO", raising=False)
    assert settings_from_env().hf_repo == ""
    monkeypatch.setenv("LART_DEMO_HF_REPO", "me/weights")
    assert settings_from_env().hf_repo == "me/weights"


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_source_order_with_hosts_faked_on_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[tuple[int, str]] = []
    hosts = {name: LoopbackServer(log) for name in ("hub", "utexas", "camenduru", "berkeley")}
    try:
        monkeypatch.setenv("HF_ENDPOINT", hosts["hub"].url(""))
        ckpt = b"hmr2 checkpoint"
        cfg = b"MODEL: {}\n"
        hosts["camenduru"].files["/hmr2_data.tar.gz"] = _tar_gz({"./logs/ck.ckpt": ckpt, "./logs/cfg.yaml": cfg})
        hosts["berkeley"].files["/ava/labels.json"] = b"{}"
        sha = hashlib.sha256(ckpt).hexdigest()
        manifest_path = tmp_path / "manifest.json"
        manifest_path.write_text(
            json.dumps(
                {
                    "stages": {"pose": ""},
                    "archives": {
                        "hmr2_data": {
                            "urls": [hosts[h].url("/hmr2_data.tar.gz") for h in ("utexas", "camenduru", "berkeley")]
                        }
                    },
                    "files": [
                        {
                            "id": "ck",
                            "path": "hmr2/ck.ckpt",
                            "required_for": ["pose"],
                            "sha256": sha,
                            "sources": [{"hub": "hmr2/ck.ckpt"}, {"archive": "hmr2_data", "member": "logs/ck.ckpt"}],
                        },
                        {
                            "id": "cfg",
                            "path": "hmr2/cfg.yaml",
                            "required_for": ["pose"],
                            "check": {"kind": "yaml"},
                            "sources": [{"hub": "hmr2/cfg.yaml"}, {"archive": "hmr2_data", "member": "logs/cfg.yaml"}],
                        },
                        {
                            "id": "labels",
                            "path": "lart/labels.json",
                            "required_for": ["pose"],
                            "check": {"kind": "json"},
                            "sources": [
                                {"hub": "lart/labels.json"},
                                {"url": hosts["utexas"].url("/ava/labels.json")},
                                {"url": hosts["berkeley"].url("/ava/labels.json")},
                            ],
                        },
                    ],
                }
            )
        )
        hub_calls = []

        def hub_without_the_files(repo: str, filename: str, revision: str, local_dir: Path) -> str:
            from huggingface_hub.errors import EntryNotFoundError

            hub_calls.append((repo, revision, filename))
            raise EntryNotFoundError(f"{filename} is not in {repo}")

        settings = Settings(weights_dir=tmp_path / "w", hf_repo="me/mirror", hf_revision="f" * 40)
        download_weights(settings, manifest=load_manifest(manifest_path), hub_download=hub_without_the_files)
        # the mirror first (each file: a missing file is not a dead mirror) ...
        assert hub_calls == [("me/mirror", "f" * 40, p) for p in ("hmr2/ck.ckpt", "hmr2/cfg.yaml", "lart/labels.json")]
        port = {h: s.httpd.server_address[1] for h, s in hosts.items()}
        order = [(next(h for h, p in port.items() if p == got), path) for got, path in log]
        # ... then utexas, then camenduru's archive, streamed once for both members; Berkeley last
        assert order == [
            ("utexas", "/hmr2_data.tar.gz"),
            ("camenduru", "/hmr2_data.tar.gz"),
            ("utexas", "/ava/labels.json"),
            ("berkeley", "/ava/labels.json"),
        ]
        assert (tmp_path / "w" / "hmr2" / "ck.ckpt").read_bytes() == ckpt
        # without a mirror nothing Hub-side is tried
        log.clear()
        download_weights(
            Settings(weights_dir=tmp_path / "w2"), manifest=load_manifest(manifest_path), hub_download=None
        )
        assert [path for _, path in log][:2] == ["/hmr2_data.tar.gz", "/hmr2_data.tar.gz"]
    finally:
        for server in hosts.values():
            server.close()
