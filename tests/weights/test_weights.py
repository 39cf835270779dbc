"""Weights manager: manifest, status, downloads (local HTTP server), SMPL licence gate, random weights, mirror."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import sys
import tarfile
import time
import types
from pathlib import Path

import numpy as np
import pytest
from loopback_http import LoopbackServer as _Server

from lart_demo.config import Settings
from lart_demo.errors import WeightsError
from lart_demo.weights import random as weights_random
from lart_demo.weights.cli import weights_cli
from lart_demo.weights.fetch import DOWNLOADS_DIR, download_weights
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import Manifest, load_manifest
from lart_demo.weights.mirror import mirror_weights, pin_manifest
from lart_demo.weights.random import (
    RANDOM_BANNER,
    _random_smpl_body,
    _write_random_body_files,
    make_random_weights,
    random_weights_info,
)
from lart_demo.weights.smpl import convert_smpl, ensure_smpl
from lart_demo.weights.status import missing_for, weights_status
from lart_demo.weights.verify import verify_file

# ----------------------------------------------------------------------------------------------
# a local HTTP server with Range support, scripted truncation and a request log


@pytest.fixture()
def server():
    srv = _Server()
    yield srv
    srv.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _write_manifest_file(tmp_path: Path, files: list[dict], archives: dict | None = None) -> Path:
    data = {"manifest_version": 1, "stages": {"pose": "", "actions": ""}, "archives": archives or {}, "files": files}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def _write_manifest(tmp_path: Path, files: list[dict], archives: dict | None = None) -> Manifest:
    return load_manifest(_write_manifest_file(tmp_path, files, archives))


def _entry(file_id: str, path: str, sources: list[dict], **extra: object) -> dict:
    return {"id": file_id, "path": path, "required_for": ["pose"], "license": "test", "sources": sources, **extra}


def _no_hub(*args: object) -> str:
    raise AssertionError("the Hub must not be contacted in this test")


# ----------------------------------------------------------------------------------------------
# the real manifest


def test_manifest_paths_match_weight_files_layout(tmp_path: Path) -> None:
    manifest = load_manifest()
    files = WeightFiles(tmp_path)
    ids = [e.id for e in manifest.files]
    assert len(ids) == len(set(ids))
    for entry in manifest.files:
        assert getattr(files, entry.id) == tmp_path / entry.path, entry.id
        if entry.licensed:
            assert entry.sources == (), "SMPL is never downloaded (its only public URL is dead and unlicensed)"
            continue
        assert entry.sources[0].hub == entry.path, f"{entry.id}: the user's Hub mirror comes first, at the same path"
        assert any(s.url or s.archive for s in entry.sources[1:]), f"{entry.id}: no origin source"
        assert entry.required_for and set(entry.required_for) <= set(manifest.stages)
        assert entry.license
        assert entry.sha256 or entry.check, f"{entry.id}: nothing to verify it with"
    # every file the pipeline reads is listed (the detector's small JSON is written by its module)
    listed = {e.id for e in manifest.files}
    expected = {
        "hmr2_checkpoint", "hmr2_config", "smpl_mean_params", "smpl_to_j19", "smpl_neutral", "hmar_checkpoint",
        "pose_predictor_checkpoint", "pose_predictor_config", "mean_std", "texture", "lart_checkpoint", "lart_config",
        "mvit_checkpoint", "mvit_config", "ava_labels", "ava_class_mapping", "detector_checkpoint",
    }  # fmt: skip
    assert expected <= listed
    assert [e.id for e in manifest.files if e.licensed] == ["smpl_neutral"]


# ----------------------------------------------------------------------------------------------
# status


def test_status_on_empty_folder(tmp_path: Path) -> None:
    statuses = weights_status(Settings(weights_dir=tmp_path / "w"))
    assert statuses and not any(s.present for s in statuses)
    smpl = next(s for s in statuses if s.id == "smpl_neutral")
    assert smpl.path == WeightFiles(tmp_path / "w").smpl_neutral_clean
    assert "licensed" in smpl.detail and "smpl.is.tue.mpg.de" in smpl.how_to_get
    others = [s for s in statuses if s.id != "smpl_neutral"]
    assert all(s.detail == "missing" and "weights download" in s.how_to_get for s in others)


def test_status_on_partial_folder_checks_sizes(tmp_path: Path) -> None:
    manifest = _write_manifest(
        tmp_path,
        [
            _entry("a", "x/a.bin", [{"url": "http://unused/a"}], size=4),
            _entry("b", "x/b.bin", [{"url": "http://unused/b"}], size=4),
            _entry("c", "c.bin", [{"url": "http://unused/c"}]),
        ],
    )
    root = tmp_path / "w"
    (root / "x").mkdir(parents=True)
    (root / "x" / "a.bin").write_bytes(b"abcd")
    (root / "x" / "b.bin").write_bytes(b"abc")  # truncated copy
    by_id = {s.id: s for s in weights_status(Settings(weights_dir=root), manifest)}
    assert by_id["a"].present and by_id["a"].size == 4
    assert not by_id["b"].present and "wrong size" in by_id["b"].detail
    assert not by_id["c"].present and by_id["c"].detail == "missing"
    assert [s.id for s in missing_for(Settings(weights_dir=root), ["pose"], manifest)] == ["b", "c"]
    assert missing_for(Settings(weights_dir=root), ["actions"], manifest) == []


def test_status_reports_smpl_conversion_pending(tmp_path: Path) -> None:
    user_file = tmp_path / "basicModel.pkl"
    user_file.write_bytes(b"x")
    statuses = weights_status(Settings(weights_dir=tmp_path / "w", smpl_path=user_file))
    st = next(s for s in statuses if s.id == "smpl_neutral")
    assert not st.present and "will be converted" in st.detail


# ----------------------------------------------------------------------------------------------
# downloads


def test_download_resumes_verifies_and_never_leaves_partial_files(tmp_path: Path, server: _Server) -> None:
    good = _npy_bytes(np.arange(50000, dtype=np.float64))
    server.files["/good.npy"] = good
    server.truncate["/good.npy"] = 100_000  # the first attempt drops the connection mid-file
    manifest = _write_manifest(
        tmp_path,
        [_entry("good", "d/good.npy", [{"url": server.url("/good.npy")}], size=len(good), sha256=_sha(good))],
    )
    settings = Settings(weights_dir=tmp_path / "w", hf_repo="")
    target = tmp_path / "w" / "d" / "good.npy"
    seen: list[tuple[str, int, int | None]] = []
    with pytest.raises(WeightsError) as err:
        download_weights(settings, manifest=manifest, hub_download=_no_hub, progress=lambda *a: seen.append(a))
    assert "d/good.npy" in str(err.value) and "resume" in str(err.value)
    assert not target.exists()
    parts = list((tmp_path / "w" / DOWNLOADS_DIR).rglob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 100_000
    download_weights(settings, manifest=manifest, hub_download=_no_hub)
    assert target.read_bytes() == good
    assert server.requests[-1] == ("/good.npy", "bytes=100000-")
    assert not list((tmp_path / "w" / DOWNLOADS_DIR).rglob("*.part"))
    assert seen and seen[-1][1] == 100_000
    # nothing to do the second time: no request
    count = len(server.requests)
    download_weights(settings, manifest=manifest, hub_download=_no_hub)
    assert len(server.requests) == count


def test_sha_mismatch_falls_back_to_next_source_and_leaves_nothing(tmp_path: Path, server: _Server) -> None:
    good = b'{"ok": true}'
    server.files["/bad.json"] = b'{"ok": false}'
    server.files["/good.json"] = good
    manifest = _write_manifest(
        tmp_path,
        [
            _entry("f", "f.json", [{"url": server.url(p)} for p in ("/bad.json", "/good.json")], sha256=_sha(good)),
            _entry("g", "g.json", [{"url": server.url("/bad.json")}], sha256=_sha(good)),
        ],
    )
    settings = Settings(weights_dir=tmp_path / "w", hf_repo="")
    with pytest.raises(WeightsError) as err:
        download_weights(settings, manifest=manifest, hub_download=_no_hub)
    message = str(err.value)
    assert message.startswith("1 weight file(s) could not be obtained") and "g.json" in message
    assert "sha256 mismatch" in message
    assert (tmp_path / "w" / "f.json").read_bytes() == good
    assert not (tmp_path / "w" / "g.json").exists()
    assert not list((tmp_path / "w").rglob("*.part")) and not list((tmp_path / "w").rglob("*.tmp"))


def test_error_page_is_rejected_by_the_content_check(tmp_path: Path, server: _Server) -> None:
    server.files["/m.npz"] = b"<html>Not here</html>"
    manifest = _write_manifest(
        tmp_path, [_entry("m", "m.npz", [{"url": server.url("/m.npz")}], check={"kind": "npz", "keys": ["pose"]})]
    )
    with pytest.raises(WeightsError, match="not a valid npz file"):
        download_weights(Settings(weights_dir=tmp_path / "w", hf_repo=""), manifest=manifest, hub_download=_no_hub)
    assert not (tmp_path / "w" / "m.npz").exists()


def test_offline_failure_answers_fast_with_what_to_do_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens on the discard port: connection refused
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:7")  # the Hub is unreachable too (nothing on port 7)
    manifest = _write_manifest(
        tmp_path,
        [
            _entry("a", "x/a.bin", [{"hub": "x/a.bin"}, {"url": f"{dead}/a"}]),
            _entry("b", "x/b.bin", [{"hub": "x/b.bin"}, {"url": f"{dead}/b"}]),
        ],
    )
    hub_calls = []

    def offline_hub(repo: str, filename: str, revision: str, local_dir: Path) -> str:
        hub_calls.append(filename)
        raise AssertionError("an unreachable Hub must not be asked")

    settings = Settings(weights_dir=tmp_path / "w", hf_repo="me/mirror", hf_revision="abc123")
    start = time.monotonic()
    with pytest.raises(WeightsError) as err:
        download_weights(settings, manifest=manifest, hub_download=offline_hub)
    assert time.monotonic() - start < 30
    first, *rest = str(err.value).splitlines()
    # the first line says what the user can do
    assert first.startswith("2 weight file(s) could not be obtained")
    for advice in ("LART_DEMO_HF_REPO", "weights import", "copy the files by name", "make-random"):
        assert advice in first
    # then the unreachable hosts once, then each file once
    assert rest[0].startswith("Unreachable: Hugging Face Hub me/mirror@abc123 (cannot connect")
    assert "127.0.0.1:9 (cannot connect" in rest[0]
    assert [line for line in rest if "x/a.bin" in line] == ["- x/a.bin (needed for pose): every host unreachable"]
    assert sum("x/b.bin" in line for line in rest) == 1
    assert hub_calls == []
    assert not (tmp_path / "w" / "x").exists() and not (tmp_path / "w" / DOWNLOADS_DIR).exists()


def test_cli_download_failure_is_one_message_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(
        "lart_demo.weights.manifest.MANIFEST_PATH",
        _write_manifest_file(tmp_path, [_entry("a", "x/a.bin", [{"url": "http://127.0.0.1:9/a"}])]),
    )
    assert weights_cli(["download", "--weights", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 1 weight file(s) could not be obtained") and "Traceback" not in err


def test_hub_comes_first_at_the_pinned_revision(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"hub copy"
    manifest = _write_manifest(tmp_path, [_entry("a", "x/a.bin", [{"hub": "x/a.bin"}, {"url": server.url("/a")}])])
    calls = []

    def fake_hub(repo: str, filename: str, revision: str, local_dir: Path) -> str:
        calls.append((repo, filename, revision))
        out = Path(local_dir) / filename
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        return str(out)

    settings = Settings(weights_dir=tmp_path / "w", hf_repo="me/mirror", hf_revision="0123abcd")
    monkeypatch.setenv("HF_ENDPOINT", server.url(""))  # the reachability probe finds the (faked) Hub
    download_weights(settings, manifest=manifest, hub_download=fake_hub)
    assert calls == [("me/mirror", "x/a.bin", "0123abcd")]
    assert (tmp_path / "w" / "x" / "a.bin").read_bytes() == data
    assert server.requests == []


def test_archive_members_are_extracted_and_the_archive_removed(tmp_path: Path, server: _Server) -> None:
    ckpt, cfg = b"checkpoint bytes" * 100, b"MODEL:\n  IMAGE_SIZE: 256\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("./logs/ck/epoch.ckpt", ckpt), ("./logs/model_config.yaml", cfg), ("./other", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    server.files["/data.tar.gz"] = buf.getvalue()
    archives = {"arch": {"urls": [server.url("/missing.tar.gz"), server.url("/data.tar.gz")]}}
    manifest = _write_manifest(
        tmp_path,
        [
            _entry("ck", "h/epoch.ckpt", [{"archive": "arch", "member": "logs/ck/epoch.ckpt"}], sha256=_sha(ckpt)),
            _entry(
                "cfg",
                "h/model_config.yaml",
                [{"archive": "arch", "member": "logs/model_config.yaml"}],
                check={"kind": "yaml"},
            ),
        ],
        archives,
    )
    download_weights(Settings(weights_dir=tmp_path / "w", hf_repo=""), manifest=manifest, hub_download=_no_hub)
    assert (tmp_path / "w" / "h" / "epoch.ckpt").read_bytes() == ckpt
    assert (tmp_path / "w" / "h" / "model_config.yaml").read_bytes() == cfg
    assert [p for p, _ in server.requests].count("/data.tar.gz") == 1  # streamed once for both members
    assert not (tmp_path / "w" / DOWNLOADS_DIR).exists()  # the archive itself never touched the disk


def test_a_failed_archive_stream_leaves_no_temporary_files(tmp_path: Path, server: _Server) -> None:
    big = np.random.default_rng(0).bytes(600_000)  # incompressible, so the cut lands inside the member
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("data/big.bin")
        info.size = len(big)
        tar.addfile(info, io.BytesIO(big))
    server.files["/data.tar.gz"] = buf.getvalue()
    server.truncate["/data.tar.gz"] = 300_000  # the connection drops half-way through the member
    manifest = _write_manifest(
        tmp_path,
        [_entry("big", "h/big.bin", [{"archive": "arch", "member": "data/big.bin"}], sha256=_sha(big))],
        {"arch": {"urls": [server.url("/data.tar.gz")]}},
    )
    with pytest.raises(WeightsError, match="h/big.bin"):
        download_weights(Settings(weights_dir=tmp_path / "w"), manifest=manifest, hub_download=_no_hub)
    leftovers = [p for p in (tmp_path / "w").rglob("*") if p.is_file()]
    assert leftovers == []


def test_random_folder_refuses_downloads(tmp_path: Path) -> None:
    root = tmp_path / "w"
    root.mkdir()
    WeightFiles(root).random_marker.write_text("{}")
    with pytest.raises(WeightsError, match="random weights"):
        download_weights(Settings(weights_dir=root), hub_download=_no_hub)


# ----------------------------------------------------------------------------------------------
# SMPL: chumpy-free reading and the licence gate


def _install_fake_chumpy(monkeypatch: pytest.MonkeyPatch) -> type:
    """A throwaway `chumpy.ch.Ch` so that we can WRITE a pickle referencing it, like the released file."""

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars: set[str] = set()

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    chumpy = types.ModuleType("chumpy")
    chumpy_ch = types.ModuleType("chumpy.ch")
    chumpy_ch.Ch = Ch
    chumpy.ch = chumpy_ch
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", chumpy_ch)
    return Ch


def _chumpy_smpl_pickle(monkeypatch: pytest.MonkeyPatch, path: Path) -> dict[str, np.ndarray]:
    import scipy.sparse

    ch = _install_fake_chumpy(monkeypatch)
    body = _random_smpl_body(seed=3)
    released = dict(body)
    for key in ("v_template", "shapedirs", "posedirs", "J", "weights"):
        released[key] = ch(body[key])
    released["J_regressor"] = scipy.sparse.csc_matrix(body["J_regressor"])
    path.write_bytes(pickle.dumps(released, protocol=2))
    monkeypatch.delitem(sys.modules, "chumpy")
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    with pytest.raises(ModuleNotFoundError):  # plain pickle would need chumpy
        pickle.loads(path.read_bytes())
    return body


@pytest.mark.slow
def test_smpl_pickle_with_chumpy_objects_converts_to_clean_npz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    body = _chumpy_smpl_pickle(monkeypatch, src)
    clean = convert_smpl(src, tmp_path / "SMPL_NEUTRAL.npz")
    with np.load(clean, allow_pickle=False) as data:
        for key in ("v_template", "shapedirs", "posedirs", "weights", "f", "kintree_table"):
            np.testing.assert_array_equal(data[key], body[key])
        np.testing.assert_allclose(data["J_regressor"], body["J_regressor"], rtol=0, atol=1e-15)


@pytest.mark.slow
def test_smpl_is_never_downloaded_and_add_smpl_converts_the_users_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    manifest = _write_manifest(tmp_path, [_entry("smpl_neutral", "smpl/SMPL_NEUTRAL.pkl", [], licensed="smpl")])
    root = tmp_path / "w"
    with pytest.raises(WeightsError) as err:
        download_weights(Settings(weights_dir=root), manifest=manifest, hub_download=_no_hub)
    assert "https://smpl.is.tue.mpg.de" in str(err.value) and "weights add-smpl FILE" in str(err.value)
    assert "classner" not in str(err.value) and "accept" not in str(err.value)
    src = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    body = _chumpy_smpl_pickle(monkeypatch, src)
    assert weights_cli(["add-smpl", str(src), "--weights", str(root)]) == 0
    with np.load(WeightFiles(root).smpl_neutral_clean, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["v_template"], body["v_template"])
    assert weights_cli(["add-smpl", str(tmp_path / "absent.pkl"), "--weights", str(root)]) == 1
    assert "smpl.is.tue.mpg.de" in capsys.readouterr().err


def test_smpl_from_user_path_needs_no_network(tmp_path: Path, smpl_dir: Path) -> None:
    manifest = _write_manifest(tmp_path, [_entry("smpl_neutral", "smpl/SMPL_NEUTRAL.pkl", [], licensed="smpl")])
    root = tmp_path / "w"
    settings = Settings(weights_dir=root, hf_repo="", smpl_path=smpl_dir / "SMPL_NEUTRAL.pkl")
    download_weights(settings, manifest=manifest, hub_download=_no_hub)
    with np.load(WeightFiles(root).smpl_neutral_clean, allow_pickle=False) as data:
        assert data["v_template"].shape[1] == 3 and data["J_regressor"].shape[1] == data["v_template"].shape[0]
    assert not WeightFiles(root).smpl_neutral.exists()  # the licensed original is not copied


def test_ensure_smpl_converts_a_user_copy_and_never_downloads(tmp_path: Path, smpl_dir: Path) -> None:
    root = tmp_path / "w"
    with pytest.raises(WeightsError, match="SMPL body model is not in .*smpl.is.tue.mpg.de"):
        ensure_smpl(Settings(weights_dir=root))
    clean = ensure_smpl(Settings(weights_dir=root, smpl_path=smpl_dir / "SMPL_NEUTRAL.pkl"))
    assert clean == WeightFiles(root).smpl_neutral_clean and clean.is_file()
    assert ensure_smpl(Settings(weights_dir=root)) == clean  # cached: no path needed any more


def test_smpl_path_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    manifest = _write_manifest(tmp_path, [_entry("smpl_neutral", "smpl/SMPL_NEUTRAL.pkl", [], licensed="smpl")])
    settings = Settings(weights_dir=tmp_path / "w", hf_repo="", smpl_path=tmp_path / "nope.pkl")
    with pytest.raises(WeightsError, match="nope.pkl, which does not exist"):
        download_weights(settings, manifest=manifest, hub_download=_no_hub)


# ----------------------------------------------------------------------------------------------
# random weights


@pytest.mark.slow
def test_random_body_is_a_closed_smpl_format_mesh(tmp_path: Path) -> None:
    import torch

    from lart_demo.models.smpl import load_smpl

    files = WeightFiles(tmp_path)
    _write_random_body_files(files, seed=0)
    with files.smpl_neutral.open("rb") as fh:
        raw = pickle.load(fh)  # plain numpy: loads without chumpy
    assert set(raw) >= {
        "v_template",
        "shapedirs",
        "posedirs",
        "J_regressor",
        "weights",
        "kintree_table",
        "f",
        "J",
        "weights_prior",
        "J_regressor_prior",
        "vert_sym_idxs",
        "bs_style",
        "bs_type",
    }
    verts, faces = raw["v_template"], raw["f"]
    assert verts.shape == (6890, 3) and faces.shape == (13776, 3) and faces.dtype == np.uint32
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # every edge shared by exactly two faces: a closed surface
    model = load_smpl(files.smpl_neutral_clean, files.smpl_to_j19)
    eye = torch.eye(3).expand(1, 1, 3, 3)
    out = model(eye, torch.eye(3).expand(1, 23, 3, 3), torch.zeros(1, 10))
    np.testing.assert_allclose(out.vertices[0].numpy(), verts, atol=1e-5)
    assert out.joints.shape == (1, 44, 3)
    with np.load(files.smpl_mean_params) as mp:
        assert mp["pose"].shape == (144,) and mp["shape"].shape == (10,) and mp["cam"].shape == (3,)
    with np.load(files.texture) as tex:
        np.testing.assert_array_equal(tex["smpl_faces"], faces)


def test_make_random_fails_loudly_for_a_module_without_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("lart_demo.models.fake_model")
    monkeypatch.setitem(sys.modules, "lart_demo.models.fake_model", fake)
    monkeypatch.setattr(weights_random, "RANDOM_WEIGHT_WRITERS", ("fake_model",))
    with pytest.raises(WeightsError, match="lart_demo.models.fake_model has no write_random_fake_model"):
        make_random_weights(tmp_path / "r")
    assert not (tmp_path / "r").exists()  # checked before anything is written


@pytest.mark.slow
def test_make_random_calls_each_writer_and_writes_the_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    manifest = load_manifest()

    def writer(weights_dir: Path, profile: str = "tiny", seed: int = 0) -> list[Path]:
        calls.append((weights_dir, profile, seed))
        out = []
        for entry in manifest.files:  # stands in for all model modules at once
            target = entry.target(weights_dir)
            if entry.licensed is None and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(b"x")
                out.append(target)
        return out

    fake = types.ModuleType("lart_demo.models.fake_model")
    fake.write_random_fake_model = writer
    monkeypatch.setitem(sys.modules, "lart_demo.models.fake_model", fake)
    monkeypatch.setattr(weights_random, "RANDOM_WEIGHT_WRITERS", ("fake_model",))
    root = tmp_path / "r"
    make_random_weights(root, profile="full", seed=7)
    assert calls == [(root, "full", 7)]
    info = random_weights_info(root)
    assert info is not None and info["banner"] == RANDOM_BANNER and info["profile"] == "full"
    assert all(s.present for s in weights_status(Settings(weights_dir=root)))
    make_random_weights(root, profile="tiny", seed=1)  # a random folder may be rewritten


def test_make_random_refuses_a_folder_with_real_weights(tmp_path: Path) -> None:
    root = tmp_path / "w"
    (root / "lart").mkdir(parents=True)
    WeightFiles(root).lart_checkpoint.write_bytes(b"real")
    with pytest.raises(WeightsError, match="refusing to overwrite"):
        make_random_weights(root)
    assert WeightFiles(root).lart_checkpoint.read_bytes() == b"real"


@pytest.mark.slow
def test_make_random_with_the_real_model_modules(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "r"
    assert weights_cli(["make-random", str(root), "--profile", "tiny", "--seed", "0"]) == 0
    statuses = weights_status(Settings(weights_dir=root))
    assert all(s.present for s in statuses), [s.id for s in statuses if not s.present]
    assert WeightFiles(root).is_random()
    assert missing_for(Settings(weights_dir=root), ["pose", "actions"]) == []
    for entry in load_manifest().files:  # the content checks accept every file in its released format
        verify_file(entry.target(root), entry, released=False)
    assert weights_cli(["status", "--weights", str(root)]) == 0
    assert RANDOM_BANNER in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# mirror and CLI


def test_mirror_plan_uploads_origin_files_but_never_smpl(tmp_path: Path, server: _Server) -> None:
    a, b = b"first", b"second"
    server.files["/a"], server.files["/b"] = a, b
    manifest = _write_manifest(
        tmp_path,
        [
            _entry("a", "x/a.bin", [{"hub": "x/a.bin"}, {"url": server.url("/a")}], sha256=_sha(a)),
            _entry("smpl_neutral", "smpl/SMPL_NEUTRAL.pkl", [{"url": server.url("/smpl")}], licensed="smpl"),
            _entry("b", "b.bin", [{"hub": "b.bin"}, {"url": server.url("/b")}]),
        ],
    )
    uploads = []

    def fake_upload(local: Path, path_in_repo: str, repo: str) -> str:
        uploads.append((local, path_in_repo, repo))
        return f"commit{len(uploads)}"

    settings = Settings(weights_dir=tmp_path / "w", hf_repo="someone/else")
    items = mirror_weights("me/mirror", None, settings=settings, manifest=manifest, uploader=fake_upload)
    root = tmp_path / "w"
    assert uploads == [(root / "x" / "a.bin", "x/a.bin", "me/mirror"), (root / "b.bin", "b.bin", "me/mirror")]
    assert [(i.path_in_repo, i.size, i.sha256, i.commit) for i in items] == [
        ("x/a.bin", 5, _sha(a), "commit1"),
        ("b.bin", 6, _sha(b), "commit2"),
    ]
    assert "/smpl" not in [p for p, _ in server.requests]
    # pinning writes sizes and hashes into the manifest, and downloads then verify them
    pin_manifest(items, tmp_path / "manifest.json")
    pinned = load_manifest(tmp_path / "manifest.json")
    assert (pinned.file("b").size, pinned.file("b").sha256) == (6, _sha(b))
    assert pinned.file("smpl_neutral").sha256 is None
    WeightFiles(root).random_marker.write_text("{}")
    with pytest.raises(WeightsError, match="refusing to mirror"):
        mirror_weights("me/mirror", None, settings=settings, manifest=manifest, uploader=lambda *args: None)


def test_cli_status_and_failed_download_print_one_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = Settings(weights_dir=tmp_path / "w", hf_repo="")
    assert weights_cli(["status"], settings=settings) == 1
    out = capsys.readouterr().out
    assert "MISSING" in out and "hmr2/epoch=35-step=1000000.ckpt" in out and "0 of" in out
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects the choice with its usage message
        weights_cli(["make-random", str(tmp_path / "r"), "--profile", "huge"], settings=settings)
    assert exit_info.value.code == 2
    capsys.readouterr()
    root = tmp_path / "rand"
    root.mkdir()
    WeightFiles(root).random_marker.write_text("{}")
    assert weights_cli(["download", "--weights", str(root)], settings=settings) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "random weights" in err
