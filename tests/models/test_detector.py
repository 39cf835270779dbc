"""Person detector: released architecture, strict loading, tiny random weights on a real frame, stand-ins."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

from lart_demo.config import Settings
from lart_demo.contracts import Detections
from lart_demo.errors import ModelError, WeightsError
from lart_demo.models.detector import (
    DetectorConfig,
    KnownBoxesDetector,
    box_masks,
    build_detector,
    filter_small,
    load_detector,
    load_person_detector,
    write_random_detector,
)
from lart_demo.weights.files import WeightFiles


def test_default_config_is_torchvision_maskrcnn_v2() -> None:
    with torch.device("meta"):
        reference = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)
        ours = build_detector(DetectorConfig())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> WeightFiles:
    root = tmp_path_factory.mktemp("weights")
    write_random_detector(root, "tiny", seed=0)
    return WeightFiles(root)


def _first_frame(examples_dir: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(examples_dir / "jump.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return np.ascontiguousarray(frame[:, :, ::-1])


def test_tiny_detector_on_a_real_frame(tiny: WeightFiles, examples_dir: Path) -> None:
    frame = _first_frame(examples_dir)
    settings = Settings(detector_threshold=0.8)
    detector = load_person_detector(tiny.detector_checkpoint, tiny.detector_config, settings, torch.device("cpu"))
    dets = detector.detect([frame, frame], [0, 1])
    assert len(dets) == 2
    d = dets[0]
    assert len(d) > 0  # random weights are biased towards 'person' on purpose
    assert d.boxes.dtype == np.float32 and d.boxes.shape == (len(d), 4)
    assert d.scores.dtype == np.float32 and (d.scores > 0.8).all()
    assert d.masks.dtype == bool and d.masks.shape == (len(d), *frame.shape[:2])
    assert (d.boxes[:, 2] > d.boxes[:, 0]).all() and (d.boxes[:, 3] > d.boxes[:, 1]).all()
    np.testing.assert_array_equal(dets[1].boxes, d.boxes)  # a batch gives each frame its own answer
    strict = load_person_detector(
        tiny.detector_checkpoint, tiny.detector_config, Settings(detector_threshold=0.99), torch.device("cpu")
    )
    assert len(strict.detect([frame], [0])[0]) < len(d)


@pytest.mark.slow
def test_strict_loading(tiny: WeightFiles, tmp_path: Path) -> None:
    state = torch.load(tiny.detector_checkpoint, weights_only=True)
    del state["roi_heads.box_predictor.cls_score.weight"]
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(ModelError, match=r"roi_heads\.box_predictor\.cls_score\.weight"):
        load_detector(broken, tiny.detector_config)
    bad_config = tmp_path / "detector.json"
    bad_config.write_text(json.dumps({"backbone": "resnet18", "colour": "blue"}))
    with pytest.raises(WeightsError, match="colour"):
        load_detector(tiny.detector_checkpoint, bad_config)
    # the released architecture (no detector.json) does not fit the tiny file: a clear error, not a crash
    with pytest.raises(ModelError, match="mis-shaped"):
        load_detector(tiny.detector_checkpoint, tmp_path / "absent.json")


def test_known_boxes_and_size_filter() -> None:
    frame = np.zeros((300, 200, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 120, 250], [0, 0, 99, 250], [0, 0, 150, 199.5]], dtype=np.float32)
    dets = Detections(boxes, np.array([0.9, 0.95, 0.99], np.float32), None)  # type: ignore[arg-type]
    detector = KnownBoxesDetector({3: dets})
    got = detector.detect([frame, frame], [2, 3])
    assert len(got[0]) == 0 and got[0].masks.shape == (0, 300, 200)
    assert got[1].masks.shape == (3, 300, 200) and got[1].masks[0, 10:250, 10:120].all()
    assert got[1].masks[0].sum() == 240 * 110
    kept = filter_small(got[1], 100, 200)
    np.testing.assert_array_equal(kept.boxes, boxes[:1])  # 99 px wide and 199.5 px tall are dropped
    by_function = KnownBoxesDetector(lambda index, image: Detections(boxes[:1], np.ones(1, np.float32), None))
    assert len(by_function.detect([frame], [7])[0]) == 1
    assert box_masks(np.array([[-5.0, -5.0, 3.2, 2.0]]), (10, 10))[0].sum() == 8
