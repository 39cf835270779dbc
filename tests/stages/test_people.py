"""The per-frame people stage: a real clip end to end with tiny random weights, batching, records, CLI writer."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from lart_demo.config import Settings
from lart_demo.contracts import Detections, FramePeople
from lart_demo.models import detector as detector_module
from lart_demo.models import hmr2 as hmr2_module
from lart_demo.models.camera import person_3d_parameters
from lart_demo.models.crops import person_crop
from lart_demo.models.detector import KnownBoxesDetector
from lart_demo.models.smpl import write_random_smpl
from lart_demo.stages.people import find_people, load_people_models, run_people
from lart_demo.weights.files import WeightFiles


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random HMR2 + detector weights and a random SMPL-format body (the product needs no ../shared)."""
    root = tmp_path_factory.mktemp("weights")
    hmr2_module.write_random_hmr2(root, "tiny", seed=0)
    detector_module.write_random_detector(root, "tiny", seed=0)
    write_random_smpl(WeightFiles(root).smpl_neutral_clean, seed=0)
    return root


@pytest.fixture(scope="module")
def settings(tiny_weights: Path) -> Settings:
    return Settings(weights_dir=tiny_weights, device="cpu")


@pytest.fixture(scope="module")
def jump_people(examples_dir: Path, settings: Settings) -> tuple[list[FramePeople], list[tuple]]:
    models = load_people_models(WeightFiles(settings.weights_dir), settings)
    calls: list[tuple] = []
    frames = list(find_people(examples_dir / "jump.mp4", models, settings, progress=lambda *a: calls.append(a)))
    return frames, calls


@pytest.mark.slow
def test_jump_clip_gives_one_record_list_per_frame(jump_people: tuple[list[FramePeople], list[tuple]]) -> None:
    frames, calls = jump_people
    assert len(frames) == 171
    assert [f.frame_index for f in frames] == list(range(171))
    assert all(f.image_size == (288, 398) for f in frames)
    assert calls[0][1:] == (0, 171) and calls[-1][1:] == (171, 171)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)
    people = [p for f in frames for p in f.people]
    assert people, "the tiny random detector is biased to find 'people'; none were found"
    for p in people[:20]:
        w, h = p.bbox_xyxy[2] - p.bbox_xyxy[0], p.bbox_xyxy[3] - p.bbox_xyxy[1]
        assert w >= 100 and h >= 200  # LART demo size filter
        assert p.score > 0.8
        assert p.global_orient.shape == (1, 3, 3) and p.body_pose.shape == (23, 3, 3) and p.betas.shape == (10,)
        assert p.cam_t.shape == (3,) and p.joints_3d.shape == (45, 3) and p.joints_2d.shape == (90,)
        assert p.pose_vec.shape == (229,) and p.loca.shape == (99,)
        assert p.crop is None and p.mask is None  # only kept for tracking
        np.testing.assert_allclose(p.pose_vec[226:], [p.cam_t[0], p.cam_t[1], p.cam_t[2] / 200], rtol=1e-6)


def _synthetic_clip(n: int) -> list[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(i, rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)) for i in range(n)]


def _known_boxes(n: int) -> dict[int, Detections]:
    out = {}
    for i in range(n):
        k = i % 3  # 0, 1 or 2 people per frame
        boxes = np.array([[10 + 5 * i, 20, 130 + 5 * i, 230], [150, 5, 260, 235]], np.float32)[:k]
        out[i] = Detections(boxes, np.full(k, 0.9, np.float32), None)  # type: ignore[arg-type]
    return out


def test_batching_across_frames_changes_nothing(settings: Settings) -> None:
    clip = _synthetic_clip(7)
    models = load_people_models(WeightFiles(settings.weights_dir), settings)
    models.detector = KnownBoxesDetector(_known_boxes(7))
    models.batch_size, models.frames_per_detection = 8, 3
    batched = list(find_people(clip, models, settings, keep_crops=True))
    models.batch_size, models.frames_per_detection = 1, 1
    single = list(find_people(clip, models, settings, keep_crops=True))
    assert [len(f.people) for f in batched] == [i % 3 for i in range(7)]
    for a, b in zip(batched, single, strict=True):
        for pa, pb in zip(a.people, b.people, strict=True):
            np.testing.assert_allclose(pa.pose_vec, pb.pose_vec, rtol=1e-4, atol=1e-5)
            np.testing.assert_array_equal(pa.crop, pb.crop)
    # one person recomputed by hand from the building blocks
    frame_index, image = clip[4]
    person = batched[4].people[0]
    crop = person_crop(image, person.bbox_xyxy, person.mask)
    np.testing.assert_array_equal(person.crop, crop)
    with torch.no_grad():
        out = models.hmr2(torch.from_numpy(crop[None, :3]))
    params = person_3d_parameters(
        models.smpl,
        out["global_orient"],
        out["body_pose"],
        out["betas"],
        out["pred_cam"],
        person.center[None].astype(np.float64),
        person.scale[None].astype(np.float64),
        (240, 320),
    )
    np.testing.assert_allclose(person.cam_t, params["cam_t"][0], rtol=1e-4)
    np.testing.assert_allclose(person.joints_2d, params["joints_2d"][0].reshape(-1) / 256, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(person.joints_3d, params["joints_3d"][0], rtol=1e-4, atol=1e-6)


def test_bad_frame_is_an_input_error(settings: Settings) -> None:
    from lart_demo.errors import InputError

    models = load_people_models(WeightFiles(settings.weights_dir), settings)
    with pytest.raises(InputError, match="RGB uint8"):
        list(find_people([(0, np.zeros((10, 10), np.float32))], models, settings))


@pytest.mark.slow
def test_run_people_writes_records(examples_dir: Path, settings: Settings, tmp_path: Path) -> None:
    short = settings.with_overrides(max_duration_s=0.5)  # 12 frames at 24 fps
    pkl = run_people(examples_dir / "jump.mp4", tmp_path / "out", short)
    data = pickle.loads(pkl.read_bytes())
    summary = json.loads((tmp_path / "out" / "people.json").read_text())
    assert len(data["frames"]) == data["clip"]["n_frames"] == len(summary["frames"]) == 12
    people = [p for f in data["frames"] for p in f["people"]]
    assert people
    first = people[0]
    assert set(first) >= {"bbox", "conf", "smpl", "camera", "3d_joints", "2d_joints"}
    assert first["smpl"]["body_pose"].shape == (23, 3, 3) and first["3d_joints"].shape == (45, 3)
    json_people = [p for f in summary["frames"] for p in f["people"]]
    assert len(json_people) == len(people)
    np.testing.assert_allclose(json_people[0]["camera"], first["camera"], rtol=1e-5, atol=1e-6)


def test_batch_size_halves_on_out_of_memory(settings: Settings) -> None:
    from lart_demo.stages.people import run_hmr2

    models = load_people_models(WeightFiles(settings.weights_dir), settings)
    real = models.hmr2
    seen: list[int] = []

    def small_memory(img: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(img.shape[0])
        if img.shape[0] > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(img)

    models.hmr2, models.batch_size = small_memory, 16
    crops = np.random.default_rng(0).normal(size=(10, 4, 256, 256)).astype(np.float32)
    out = run_hmr2(models, crops)
    assert seen[:3] == [10, 8, 4] and models.batch_size == 2
    assert out["pred_cam"].shape == (10, 3)
    with torch.no_grad():
        expected = real(torch.from_numpy(crops[:, :3].copy()))["pred_cam"].numpy()
    np.testing.assert_allclose(out["pred_cam"], expected, rtol=1e-4, atol=1e-6)


def test_device_and_smpl_file_resolution(tmp_path: Path) -> None:
    from lart_demo.errors import InputError
    from lart_demo.stages.people import initial_batch_size, resolve_device, smpl_model_file

    assert resolve_device("cpu") == torch.device("cpu")
    assert initial_batch_size(torch.device("cpu")) >= 1
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(InputError, match="no CUDA GPU"):
            resolve_device("cuda")
    files = WeightFiles(tmp_path)
    user = tmp_path / "my_smpl.pkl"
    assert smpl_model_file(files, Settings()) == files.smpl_neutral
    assert smpl_model_file(files, Settings(smpl_path=user)) == user
    write_random_smpl(files.smpl_neutral_clean)
    assert smpl_model_file(files, Settings(smpl_path=user)) == files.smpl_neutral_clean
