"""Person detector with masks: torchvision Mask R-CNN v2 (COCO), or any object with `detect`.

PHALP's LART demo uses a ViTDet-H Cascade Mask R-CNN (detectron2). We use torchvision's
Mask R-CNN ResNet-50-FPN v2 instead (no detectron2 dependency; README says how they differ) with
PHALP's post-processing: per-class NMS at IoU 0.5, keep class 'person' with score strictly above
`Settings.detector_threshold` (0.8), masks binarised at 0.5. The minimum box size filter
(`Settings.min_box_w/min_box_h`, 100x200 in the LART demo) is applied by the people stage to every
detector's output.

The architecture size comes from `detector.json` beside the weights: the default is torchvision's
released `maskrcnn_resnet50_fpn_v2`; the 'tiny' profile is a ResNet-18 with a thin FPN for tests.
Weights are only ever read from `WeightFiles.detector_checkpoint`; nothing here downloads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from lart_demo.config import Settings
from lart_demo.contracts import Detections
from lart_demo.errors import ModelError, WeightsError
from lart_demo.models.checkpoint import assign_state_dict
from lart_demo.safe_load import load_torch
from lart_demo.weights.files import WeightFiles

MODEL_NAME = "person detector (Mask R-CNN)"
COCO_PERSON = 1  # torchvision's 91-class COCO indexing (0 = background)
NMS_IOU = 0.5  # detectron2's default test NMS, as PHALP's ViTDet config uses
PRE_SCORE_THRESHOLD = 0.5  # PHALP sets test_score_thresh 0.5 before its own > 0.8 person filter
MASK_THRESHOLD = 0.5


class PersonDetector(Protocol):
    """Anything that finds people: one `Detections` per given RGB uint8 frame."""

    def detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detections]: ...


# ----------------------------------------------------------------------------------------------
# architecture


@dataclass(frozen=True)
class DetectorConfig:
    """Mask R-CNN sizes; the defaults are torchvision's maskrcnn_resnet50_fpn_v2 (the released weights)."""

    backbone: str = "resnet50"
    fpn_channels: int = 256
    rpn_conv_depth: int = 2
    box_convs: int = 4
    box_fc: int = 1024
    mask_convs: int = 4
    num_classes: int = 91
    min_size: int = 800
    max_size: int = 1333
    rpn_pre_nms_top_n: int = 1000
    rpn_post_nms_top_n: int = 1000
    detections_per_img: int = 100
    anchor_sizes: tuple[int, int, int, int, int] = (32, 64, 128, 256, 512)  # one per FPN level
    resnet_layers: tuple[int, int, int, int] | None = None  # blocks per stage; None = the named ResNet's


def read_detector_config(path: Path) -> DetectorConfig:
    """detector.json beside the weights; without it, the released architecture."""
    if not path.is_file():
        return DetectorConfig()  # the released architecture needs no config file
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path} is not valid JSON ({exc}). Delete it to use the released detector.") from exc
    known = {f.name for f in fields(DetectorConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise WeightsError(f"{path} has unknown detector settings {unknown}; known: {sorted(known)}.")
    for key in ("resnet_layers", "anchor_sizes"):
        if data.get(key) is not None:
            data[key] = tuple(data[key])
    return DetectorConfig(**data)


TINY_DETECTOR = DetectorConfig(
    backbone="resnet18",
    resnet_layers=(1, 1, 1, 1),
    fpn_channels=32,
    rpn_conv_depth=1,
    box_convs=1,
    box_fc=64,
    mask_convs=1,
    min_size=128,
    max_size=224,
    rpn_pre_nms_top_n=100,
    rpn_post_nms_top_n=50,
    detections_per_img=10,
    anchor_sizes=(64, 80, 96, 112, 128),  # person-sized at 128 px, so random weights still yield "people"
)

_RESNETS = {
    "resnet18": (resnet.BasicBlock, (2, 2, 2, 2)),
    "resnet34": (resnet.BasicBlock, (3, 4, 6, 3)),
    "resnet50": (resnet.Bottleneck, (3, 4, 6, 3)),
    "resnet101": (resnet.Bottleneck, (3, 4, 23, 3)),
}


def build_detector(config: DetectorConfig, score_threshold: float = PRE_SCORE_THRESHOLD) -> MaskRCNN:
    """Mask R-CNN with torchvision's v2 head design at the configured sizes (eval-time thresholds set)."""
    if config.backbone not in _RESNETS:
        raise ModelError(f"Unsupported detector backbone '{config.backbone}' in detector.json (use {list(_RESNETS)}).")
    block, layers = _RESNETS[config.backbone]
    body = resnet.ResNet(block, list(config.resnet_layers or layers), norm_layer=nn.BatchNorm2d)
    stage_channels = [_stage_out_channels(getattr(body, f"layer{i}")) for i in range(1, 5)]
    backbone = BackboneWithFPN(
        body,
        return_layers={f"layer{i}": str(i - 1) for i in range(1, 5)},
        in_channels_list=stage_channels,
        out_channels=config.fpn_channels,
        extra_blocks=LastLevelMaxPool(),
        norm_layer=nn.BatchNorm2d,
    )
    anchors = AnchorGenerator(tuple((size,) for size in config.anchor_sizes), ((0.5, 1.0, 2.0),) * 5)
    c = config.fpn_channels
    return MaskRCNN(
        backbone,
        num_classes=None,  # given by the predictors below
        min_size=config.min_size,
        max_size=config.max_size,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(c, anchors.num_anchors_per_location()[0], conv_depth=config.rpn_conv_depth),
        rpn_pre_nms_top_n_test=config.rpn_pre_nms_top_n,
        rpn_post_nms_top_n_test=config.rpn_post_nms_top_n,
        box_head=FastRCNNConvFCHead((c, 7, 7), [c] * config.box_convs, [config.box_fc], norm_layer=nn.BatchNorm2d),
        mask_head=MaskRCNNHeads(c, [c] * config.mask_convs, 1, norm_layer=nn.BatchNorm2d),
        box_predictor=FastRCNNPredictor(config.box_fc, config.num_classes),
        mask_predictor=MaskRCNNPredictor(c, c, config.num_classes),
        box_score_thresh=score_threshold,
        box_nms_thresh=NMS_IOU,
        box_detections_per_img=config.detections_per_img,
    )


def _stage_out_channels(layer: nn.Sequential) -> int:
    last = layer[-1]
    return (last.conv3 if hasattr(last, "conv3") else last.conv2).out_channels


# BatchNorm step counters: not read at inference, and not every export carries them
UNUSED_KEYS = ("*num_batches_tracked",)


def checkpoint_filter_fn(checkpoint: Mapping[str, Any], model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """torchvision's released Mask R-CNN v2 state_dict already uses the module's keys; a training
    checkpoint keeps it under 'model'."""
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise WeightsError("The detector file does not hold a state_dict. Delete it and download the weights again.")
    return {k: v for k, v in state.items() if torch.is_tensor(v)}


def load_detector(
    checkpoint: str | Path,
    config: str | Path | DetectorConfig,
    device: str | torch.device = "cpu",
    *,
    score_threshold: float = PRE_SCORE_THRESHOLD,
) -> MaskRCNN:
    """The Mask R-CNN from detector.json (absent: the released sizes) and its weights, in eval mode."""
    cfg = config if isinstance(config, DetectorConfig) else read_detector_config(Path(config))
    model = build_detector(cfg, score_threshold)
    state = checkpoint_filter_fn(load_torch(checkpoint))
    assign_state_dict(model, state, model_name=MODEL_NAME, unused=UNUSED_KEYS)
    return model.to(device).eval()


# ----------------------------------------------------------------------------------------------
# detectors


class MaskRCNNPersonDetector:
    """Mask R-CNN + PHALP's person filter. Frames of a call are one batch."""

    def __init__(self, model: MaskRCNN, device: torch.device, score_threshold: float = 0.8) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.score_threshold = score_threshold

    @torch.no_grad()
    def detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int] = ()) -> list[Detections]:
        if not frames:
            return []
        images = [
            torch.from_numpy(np.ascontiguousarray(f)).to(self.device).permute(2, 0, 1).float() / 255.0 for f in frames
        ]
        outputs = self.model(images)  # in the caller's precision context (lart_demo.precision)
        return [self._person_detections(out, frame.shape[:2]) for out, frame in zip(outputs, frames, strict=True)]

    def _person_detections(self, out: Mapping[str, torch.Tensor], image_hw: tuple[int, int]) -> Detections:
        keep = (out["labels"] == COCO_PERSON) & (out["scores"] > self.score_threshold)
        boxes = out["boxes"][keep].float().cpu().numpy().astype(np.float32)
        scores = out["scores"][keep].float().cpu().numpy().astype(np.float32)
        masks = (out["masks"][keep][:, 0] > MASK_THRESHOLD).cpu().numpy()
        if masks.shape[0] == 0:
            masks = np.zeros((0, *image_hw), dtype=bool)
        return Detections(boxes=boxes, scores=scores, masks=masks)


def box_masks(boxes: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """(N, H, W) bool masks filling each xyxy box (for detectors that give boxes only)."""
    h, w = image_hw
    masks = np.zeros((len(boxes), h, w), dtype=bool)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.float64)):
        rows = slice(max(0, int(np.floor(y1))), max(0, int(np.ceil(y2))))
        cols = slice(max(0, int(np.floor(x1))), max(0, int(np.ceil(x2))))
        masks[i, rows, cols] = True
    return masks


class KnownBoxesDetector:
    """A detector that returns given boxes (tests, synthetic clips, precomputed detections).

    `source` maps a frame index to its detections, either as a mapping (frames not in it have no
    people) or as a function of (frame index, frame). Boxes without masks get box-shaped masks.
    """

    def __init__(self, source: Mapping[int, Detections] | Callable[[int, np.ndarray], Detections]) -> None:
        self.source = source

    def detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detections]:
        result = []
        for index, frame in zip(frame_indices, frames, strict=True):
            if callable(self.source):
                dets = self.source(index, frame)
            else:
                dets = self.source.get(index) or empty_detections(frame.shape[:2])
            if dets.masks is None or dets.masks.shape[0] != len(dets):
                dets = Detections(dets.boxes, dets.scores, box_masks(dets.boxes, frame.shape[:2]))
            result.append(dets)
        return result


def empty_detections(image_hw: tuple[int, int]) -> Detections:
    return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, *image_hw), bool))


def filter_small(dets: Detections, min_w: float, min_h: float) -> Detections:
    """Drop boxes narrower than min_w or shorter than min_h (PHALP's small_w / small_h)."""
    if len(dets) == 0:
        return dets
    w = dets.boxes[:, 2] - dets.boxes[:, 0]
    h = dets.boxes[:, 3] - dets.boxes[:, 1]
    keep = ~((w < min_w) | (h < min_h))
    return Detections(dets.boxes[keep], dets.scores[keep], dets.masks[keep])


def load_person_detector(checkpoint: Path, config: Path, settings: Settings, device: torch.device) -> PersonDetector:
    """The Mask R-CNN person detector with the thresholds in `settings`."""
    pre = min(PRE_SCORE_THRESHOLD, settings.detector_threshold)
    model = load_detector(checkpoint, config, score_threshold=pre)
    return MaskRCNNPersonDetector(model, device, settings.detector_threshold)


# ----------------------------------------------------------------------------------------------
# random weights


def write_random_detector(weights_dir: Path, profile: str = "tiny", seed: int = 0) -> list[Path]:
    """Random detector weights (torchvision state_dict layout) + detector.json at the WeightFiles paths.

    The classifier is biased towards 'person' and the box regressors are zeroed, so even random
    weights return person boxes (anchor-shaped) and the downstream stages have people to work on.
    """
    if profile not in ("tiny", "full"):
        raise ModelError(f"Unknown weights profile '{profile}' (use 'tiny' or 'full').")
    files = WeightFiles(Path(weights_dir))
    config = TINY_DETECTOR if profile == "tiny" else DetectorConfig()
    torch.manual_seed(seed)
    model = build_detector(config)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias.zero_()
        model.roi_heads.box_predictor.cls_score.bias[COCO_PERSON] = 8.0
        model.roi_heads.box_predictor.bbox_pred.weight.zero_()
        model.roi_heads.box_predictor.bbox_pred.bias.zero_()
        model.rpn.head.bbox_pred.weight.zero_()
        model.rpn.head.bbox_pred.bias.zero_()
        # prefer the tall (h/w = 2) anchors, the shape of a standing person
        model.rpn.head.cls_logits.bias.copy_(torch.tensor([-4.0, -4.0, 4.0]))
    files.detector_checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), files.detector_checkpoint)
    files.detector_config.write_text(json.dumps(asdict(config), indent=1))
    return [files.detector_checkpoint, files.detector_config]
