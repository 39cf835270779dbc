"""Where every weight/asset file lives inside the weights folder (one place for all modules).

The weights folder is `Settings.weights_dir` (default `weights/`, env `LART_DEMO_WEIGHTS`).
File names keep the released names so users can drop in files they already have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RANDOM_MARKER = "RANDOM_WEIGHTS"  # present => every output says "random weights: predictions are meaningless"


@dataclass(frozen=True)
class WeightFiles:
    root: Path

    # HMR2.0b (4D-Humans hmr2_data.tar.gz layout, flattened)
    @property
    def hmr2_checkpoint(self) -> Path:
        return self.root / "hmr2" / "epoch=35-step=1000000.ckpt"

    @property
    def hmr2_config(self) -> Path:
        return self.root / "hmr2" / "model_config.yaml"

    @property
    def smpl_mean_params(self) -> Path:
        return self.root / "hmr2" / "smpl_mean_params.npz"

    @property
    def smpl_to_j19(self) -> Path:
        return self.root / "hmr2" / "SMPL_to_J19.pkl"

    # SMPL (licensed: supplied by the user; cached chumpy-free copy beside it)
    @property
    def smpl_dir(self) -> Path:
        return self.root / "smpl"

    @property
    def smpl_neutral(self) -> Path:
        return self.smpl_dir / "SMPL_NEUTRAL.pkl"

    @property
    def smpl_neutral_clean(self) -> Path:
        return self.smpl_dir / "SMPL_NEUTRAL.npz"

    # PHALP
    @property
    def hmar_checkpoint(self) -> Path:
        return self.root / "phalp" / "hmar_v2_weights.pth"

    @property
    def pose_predictor_checkpoint(self) -> Path:
        return self.root / "phalp" / "pose_predictor_40006.ckpt"

    @property
    def pose_predictor_config(self) -> Path:
        return self.root / "phalp" / "config_40006.yaml"

    @property
    def mean_std(self) -> Path:
        return self.root / "phalp" / "mean_std.npy"

    @property
    def texture(self) -> Path:
        return self.root / "phalp" / "texture.npz"

    # LART + AVA MViT
    @property
    def lart_checkpoint(self) -> Path:
        return self.root / "lart" / "lart_mvit.ckpt"

    @property
    def lart_config(self) -> Path:
        return self.root / "lart" / "lart_mvit.config"

    @property
    def mvit_checkpoint(self) -> Path:
        return self.root / "lart" / "mvit.pyth"

    @property
    def mvit_config(self) -> Path:
        return self.root / "lart" / "mvit.yaml"

    @property
    def ava_labels(self) -> Path:
        return self.root / "lart" / "ava_labels.pkl"

    @property
    def ava_class_mapping(self) -> Path:
        return self.root / "lart" / "ava_class_mapping.pkl"

    # person detector (torchvision Mask R-CNN v2, COCO)
    @property
    def detector_checkpoint(self) -> Path:
        return self.root / "detector" / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"

    @property
    def detector_config(self) -> Path:
        """Small JSON beside the detector weights (architecture size; tiny profile in tests)."""
        return self.root / "detector" / "detector.json"

    @property
    def random_marker(self) -> Path:
        return self.root / RANDOM_MARKER

    def is_random(self) -> bool:
        return self.random_marker.exists()
