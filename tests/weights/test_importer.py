"""`weights import` from an upstream install's cache, `weights verify` on the result."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from lart_demo.config import Settings
from lart_demo.weights import lock
from lart_demo.weights.cli import weights_cli
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.importer import import_weights

# where PHALP / 4D-Humans / torch hub keep each file, under their names (relative to $HOME)
UPSTREAM_LAYOUT = {
    "hmr2_checkpoint": ".cache/4DHumans/logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt",
    "hmr2_config": ".cache/4DHumans/logs/train/multiruns/hmr2/0/model_config.yaml",
    "smpl_mean_params": ".cache/phalp/3D/smpl_mean_params.npz",
    "smpl_to_j19": ".cache/4DHumans/data/SMPL_to_J19.pkl",
    "smpl_neutral": ".cache/phalp/3D/models/smpl/SMPL_NEUTRAL.pkl",
    "hmar_checkpoint": ".cache/phalp/weights/hmar_v2_weights.pth",
    "pose_predictor_checkpoint": ".cache/phalp/weights/pose_predictor.pth",
    "pose_predictor_config": ".cache/phalp/weights/pose_predictor.yaml",
    "mean_std": ".cache/phalp/3D/mean_std.npy",
    "texture": ".cache/phalp/3D/texture.npz",
    "lart_checkpoint": ".cache/phalp/ava/lart_mvit.ckpt",
    "lart_config": ".cache/phalp/ava/lart_mvit.config",
    "mvit_checkpoint": ".cache/phalp/ava/mvit.pyth",
    "mvit_config": ".cache/phalp/ava/mvit.yaml",
    "ava_labels": ".cache/phalp/ava/ava_labels.pkl",
    "ava_class_mapping": ".cache/phalp/ava/ava_class_mapping.pkl",
    "detector_checkpoint": ".cache/torch/hub/checkpoints/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
}


@pytest.fixture()
def upstream_home(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake $HOME holding an upstream install's cache, built from tiny random files under upstream names."""
    home = tmp_path / "home"
    files = WeightFiles(tiny_weights)
    for file_id, relpath in UPSTREAM_LAYOUT.items():
        (home / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(getattr(files, file_id), home / relpath)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("TORCH_HOME", raising=False)
    return home


@pytest.mark.slow
def test_import_from_the_upstream_cache_then_verify(
    tmp_path: Path, upstream_home: Path, tiny_weights: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "w"
    report = import_weights(Settings(weights_dir=root))
    found = dict(report.found)
    # upstream names are mapped to ours
    assert found["phalp/pose_predictor_40006.ckpt"] == upstream_home / UPSTREAM_LAYOUT["pose_predictor_checkpoint"]
    assert found["phalp/config_40006.yaml"] == upstream_home / UPSTREAM_LAYOUT["pose_predictor_config"]
    assert "smpl/SMPL_NEUTRAL.pkl" in found and WeightFiles(root).smpl_neutral_clean.is_file()
    # the random detector file cannot be torchvision's released one (its name carries a sha256 prefix)
    assert report.missing == ["detector/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"]
    assert len(report.rejected) == 1 and "sha256 mismatch" in report.rejected[0]
    for relpath in found:
        if relpath.startswith("smpl/"):
            continue
        assert (root / relpath).read_bytes() == (tiny_weights / relpath).read_bytes()
        assert os.path.samefile(root / relpath, found[relpath])  # hard-linked, not copied, on one filesystem
        assert relpath in lock.read_lock(root)  # verified and recorded, like a download

    # the CLI reports found / missing; a second run finds everything in place
    assert weights_cli(["import", "--weights", str(root)]) == 1
    out = capsys.readouterr().out
    assert "present phalp/pose_predictor_40006.ckpt" in out and "MISSING detector/" in out


@pytest.mark.slow
def test_verify_after_import_prints_one_line_per_model(
    tmp_path: Path, upstream_home: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "w"
    import_weights(Settings(weights_dir=root))
    # one line per model; the missing detector fails with a one-line reason and exit code 1
    assert weights_cli(["verify", "--weights", str(root), "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    for name in ("hmr2", "smpl", "hmar", "pose_predictor", "mvit", "lart"):
        (line,) = [x for x in lines if f" {name} " in x]
        assert line.split()[0] == "ok" and "M params" in line and line.endswith(" s")
    (failed,) = [x for x in lines if "FAILED" in x]
    assert "detector" in failed and "not found" in failed
    assert "Traceback" not in captured.out + captured.err and captured.err.startswith("error: 1 model(s) failed")


@pytest.mark.slow
def test_import_from_a_folder_and_verify_refuses_a_file_that_would_run_code(
    tmp_path: Path, tiny_weights: Path, capsys: pytest.CaptureFixture
) -> None:
    dump = tmp_path / "dump"
    shutil.copytree(tiny_weights, dump)
    (dump / "RANDOM_WEIGHTS").unlink()  # a plain folder of files, as a user might have them
    root = tmp_path / "w"
    report = import_weights(Settings(weights_dir=root), [dump])
    assert len(report.found) == 16 and report.missing == ["detector/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"]
    (root / "detector").mkdir()  # copied by name, as the failure message suggests for the tiny detector
    shutil.copyfile(dump / "detector" / "detector.json", root / "detector" / "detector.json")
    shutil.copyfile(
        dump / "detector" / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth", WeightFiles(root).detector_checkpoint
    )

    marker = tmp_path / "code_ran"

    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    lart = WeightFiles(root).lart_checkpoint
    lart.unlink()  # the hard link: do not write through it into the source folder
    lart.write_bytes(pickle.dumps({"state_dict": {}, "x": Exploit()}, protocol=2))
    assert weights_cli(["verify", "--weights", str(root), "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    (failed,) = [x for x in out.splitlines() if "FAILED" in x]
    assert failed.split()[1] == "lart" and "WeightsError" in failed
    assert not marker.exists()
    assert sum(line.split()[0] == "ok" for line in out.splitlines() if line.startswith("  ")) == 6
