"""The fetcher against the LOWEST huggingface_hub that requirements.txt admits, installed into a throwaway
folder (it is pure Python) and run in a subprocess against a Hub faked on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REVISION = "0123456789abcdef0123456789abcdef01234567"


def lowest_admitted() -> str:
    text = (REPO_ROOT / "requirements.txt").read_text()
    match = re.search(r"^huggingface_hub>=([0-9.]+)\s*$", text, re.MULTILINE)
    assert match, "requirements.txt must give huggingface_hub a lower bound"
    return match.group(1)


class _FakeHub:
    """Enough of the Hub's resolve endpoint for hf_hub_download: HEAD/GET with ETag and X-Repo-Commit."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, body: bool) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                data = hub.files.get(self.path)
                if data is None:
                    self.send_response(404)
                    missing_file = self.path.startswith("/me/mirror/resolve/")
                    self.send_header("X-Error-Code", "EntryNotFound" if missing_file else "RepoNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", REVISION)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:  # noqa: N802 (http.server API)
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                self._answer(body=True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def lowest_hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    version = lowest_admitted()
    target = tmp_path_factory.mktemp("hf_lowest")
    # --no-deps: its dependencies (requests, filelock, fsspec, ...) are already installed with the app's
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            f"huggingface_hub=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.skip(f"pip could not install huggingface_hub=={version} from the package index: {proc.stderr[-300:]}")
    return target


SCRIPT = """
import json, sys
from pathlib import Path
import huggingface_hub
from lart_demo.config import Settings
from lart_demo.weights.fetch import download_weights
from lart_demo.weights.manifest import load_manifest

args = json.loads(sys.argv[1])
assert huggingface_hub.__version__ == args["version"], huggingface_hub.__version__
manifest = load_manifest(Path(args["manifest"]))
for repo, folder in (("me/mirror", "w1"), ("me/absent", "w2")):
    settings = Settings(weights_dir=Path(args["root"]) / folder, hf_repo=repo, hf_revision=args["revision"])
    download_weights(settings, manifest=manifest)
print("ok")
"""


@pytest.mark.slow
def test_fetcher_with_the_lowest_admitted_huggingface_hub(lowest_hub: Path, tmp_path: Path) -> None:
    _run_against_fake_hub([str(lowest_hub)], lowest_admitted(), tmp_path)


@pytest.mark.slow
def test_fetcher_with_the_installed_huggingface_hub(tmp_path: Path) -> None:
    import huggingface_hub

    _run_against_fake_hub([], huggingface_hub.__version__, tmp_path)


def _run_against_fake_hub(extra_path: list[str], version: str, tmp_path: Path) -> None:
    on_hub, on_origin = b"configs: {a: 1}\n", b"configs: {b: 2}\n"
    hub = _FakeHub(
        {f"/me/mirror/resolve/{REVISION}/x/a.yaml": on_hub, "/origin/b.yaml": on_origin, "/origin/a.yaml": on_hub}
    )
    try:
        manifest = tmp_path / "manifest.json"
        entry = {"required_for": ["pose"], "check": {"kind": "yaml"}}
        manifest.write_text(
            json.dumps(
                {
                    "stages": {"pose": ""},
                    "files": [
                        {
                            **entry,
                            "id": "a",
                            "path": "x/a.yaml",
                            "sources": [{"hub": "x/a.yaml"}, {"url": f"{hub.url}/origin/a.yaml"}],
                        },
                        {
                            **entry,
                            "id": "b",
                            "path": "x/b.yaml",
                            "sources": [{"hub": "x/b.yaml"}, {"url": f"{hub.url}/origin/b.yaml"}],
                        },
                    ],
                }
            )
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([*extra_path, str(REPO_ROOT)]),
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf_home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_ETAG_TIMEOUT": "5",
        }
        env.pop("HF_HUB_OFFLINE", None)
        args = {"version": version, "manifest": str(manifest), "root": str(tmp_path), "revision": REVISION}
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(SCRIPT), json.dumps(args)],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
        # the mirror gave what it has; a file it lacks (EntryNotFound) came from the origin
        assert (tmp_path / "w1" / "x" / "a.yaml").read_bytes() == on_hub
        assert (tmp_path / "w1" / "x" / "b.yaml").read_bytes() == on_origin
        # a repo that does not exist is asked once, then skipped for the other files
        absent = [r for r in hub.requests if "/me/absent/" in r]
        assert absent and all("x/a.yaml" in r for r in absent), absent
        assert (tmp_path / "w2" / "x" / "b.yaml").read_bytes() == on_origin
    finally:
        hub.close()
