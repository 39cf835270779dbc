"""AVA action labels: the 80 AVA v2.2 classes, the 60 that LART predicts, and how the demo names them.

LART's AVA head has 60 outputs; output index `i` means the AVA class `class_mapping[i + 1]` of
`ava_class_mapping.pkl`. That file is not available offline, so the default mapping is the
assumption of lart_spec.md section 10 (the 60 evaluated ids in ascending order); when the released
file is present in the weights folder it wins (`load_action_labels`).

Label strings follow the LART demo: sigmoid (multi-label), top 3 without any threshold, the
probability rounded as `"{:0.0f}% : {name}"` of `round(100 p, 2)` and the demo's short display names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lart_demo.errors import WeightsError
from lart_demo.safe_load import AVA_LABELS, load_pickle
from lart_demo.weights.files import WeightFiles

# AVA v2.2 action list: id -> official name (all 80 classes).
AVA_ACTION_NAMES: dict[int, str] = {
    1: "bend/bow (at the waist)",
    2: "crawl",
    3: "crouch/kneel",
    4: "dance",
    5: "fall down",
    6: "get up",
    7: "jump/leap",
    8: "lie/sleep",
    9: "martial art",
    10: "run/jog",
    11: "sit",
    12: "stand",
    13: "swim",
    14: "walk",
    15: "answer phone",
    16: "brush teeth",
    17: "carry/hold (an object)",
    18: "catch (an object)",
    19: "chop",
    20: "climb (e.g., a mountain)",
    21: "clink glass",
    22: "close (e.g., a door, a box)",
    23: "cook",
    24: "cut",
    25: "dig",
    26: "dress/put on clothing",
    27: "drink",
    28: "drive (e.g., a car, a truck)",
    29: "eat",
    30: "enter",
    31: "exit",
    32: "extract",
    33: "fishing",
    34: "hit (an object)",
    35: "kick (an object)",
    36: "lift/pick up",
    37: "listen (e.g., to music)",
    38: "open (e.g., a window, a car door)",
    39: "paint",
    40: "play board game",
    41: "play musical instrument",
    42: "play with pets",
    43: "point to (an object)",
    44: "press",
    45: "pull (an object)",
    46: "push (an object)",
    47: "put down",
    48: "read",
    49: "ride (e.g., a bike, a car, a horse)",
    50: "row boat",
    51: "sail boat",
    52: "shoot",
    53: "shovel",
    54: "smoke",
    55: "stir",
    56: "take a photo",
    57: "text on/look at a cellphone",
    58: "throw",
    59: "touch (an object)",
    60: "turn (e.g., a screwdriver)",
    61: "watch (e.g., TV)",
    62: "work on a computer",
    63: "write",
    64: "fight/hit (a person)",
    65: "give/serve (an object) to (a person)",
    66: "grab (a person)",
    67: "hand clap",
    68: "hand shake",
    69: "hand wave",
    70: "hug (a person)",
    71: "kick (a person)",
    72: "kiss (a person)",
    73: "lift (a person)",
    74: "listen to (a person)",
    75: "play with kids",
    76: "push (another person)",
    77: "sing to (e.g., self, a person, a group)",
    78: "take (an object) from (a person)",
    79: "talk to (e.g., self, a person, a group)",
    80: "watch (a person)",
}

# The short names the LART demo draws next to each person (keys: the 60 evaluated AVA ids).
DEMO_DISPLAY_NAMES: dict[int, str] = {
    1: "bend",
    3: "crouch",
    4: "dance",
    5: "fall down",
    6: "get up",
    7: "jump",
    8: "lie",
    9: "martial art",
    10: "run",
    11: "sit",
    12: "stand",
    13: "swim",
    14: "walk",
    15: "answer phone",
    17: "carry (an O)",
    20: "climb",
    22: "close",
    24: "cut",
    26: "dress",
    27: "drink",
    28: "drive",
    29: "eat",
    30: "enter",
    34: "hit (an O)",
    36: "lift",
    37: "listen",
    38: "open",
    41: "play instrument",
    43: "point to (an O)",
    45: "pull (an O)",
    46: "push (an O)",
    47: "put down",
    48: "read",
    49: "ride",
    51: "sail",
    52: "shoot",
    54: "smoke",
    56: "take photo",
    57: "text",
    58: "throw",
    59: "touch (an O)",
    60: "turn",
    61: "watch (an O)",
    62: "work on computer",
    63: "write",
    64: "fight (a P)",
    65: "give (an O) to (a P)",
    66: "grab (a P)",
    67: "clap",
    68: "hand shake",
    69: "wave",
    70: "hug (a P)",
    72: "kiss (a P)",
    73: "lift (a P)",
    74: "listen to (a P)",
    76: "push (a P)",
    77: "sing",
    78: "take (an O) from (a P)",
    79: "talk",
    80: "watch (a P)",
}

# The 60 classes of the official AVA evaluation (the ones LART predicts), ascending.
EVALUATED_AVA_IDS: tuple[int, ...] = tuple(sorted(DEMO_DISPLAY_NAMES))

# Assumed content of ava_class_mapping.pkl (lart_spec.md section 13): output index i -> i-th evaluated id.
DEFAULT_CLASS_MAPPING: tuple[int, ...] = EVALUATED_AVA_IDS

UNKNOWN_DISPLAY_NAME = "n/a"  # what the demo prints for an id without a short name


def format_label(prob: float, name: str) -> str:
    """The demo's label text, e.g. `"97% : dance"`.

    The demo rounds `100 p` to two decimals first and then formats with zero decimals, so the
    percentage is the round-half-even of the already rounded float (kept on purpose: p = 0.995 -> '100%').
    """
    return f"{np.round(float(prob) * 100.0, 2):0.0f}% : {name}"


@dataclass(frozen=True)
class TopActions:
    """The top-k actions per frame, best first."""

    index: np.ndarray  # (T, k) int64, output index 0..59
    ava_id: np.ndarray  # (T, k) int64, AVA class id 1..80
    prob: np.ndarray  # (T, k) float32, sigmoid probability
    text: list[list[str]]  # (T, k) demo strings "87% : stand"


@dataclass(frozen=True)
class ActionLabels:
    """How LART's output indices map to AVA classes and names."""

    class_ids: tuple[int, ...] = DEFAULT_CLASS_MAPPING  # output index -> AVA id
    display_names: Mapping[int, str] | None = None  # AVA id -> short name; None = the demo's table
    source: str = "assumed (lart_spec.md section 10: ascending evaluated ids)"

    def __post_init__(self) -> None:
        bad = [i for i in self.class_ids if i not in AVA_ACTION_NAMES]
        if bad:
            raise WeightsError(f"AVA class mapping holds ids outside 1..80: {bad[:5]}. Check ava_class_mapping.pkl.")

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    def _names(self) -> Mapping[int, str]:
        return DEMO_DISPLAY_NAMES if self.display_names is None else self.display_names

    def ava_id(self, index: int) -> int:
        return self.class_ids[index]

    def display_name(self, index: int) -> str:
        """The demo's short name of output `index` ('n/a' for an id the demo has no name for)."""
        return self._names().get(self.class_ids[index], UNKNOWN_DISPLAY_NAME)

    def display_names_by_index(self) -> list[str]:
        return [self.display_name(i) for i in range(self.num_classes)]

    def top_actions(self, probs: np.ndarray | torch.Tensor, k: int = 3) -> TopActions:
        """Top-k of per-frame sigmoid probabilities `(T, C)` or `(C,)`, as the demo ranks them (torch.topk)."""
        p = torch.as_tensor(np.asarray(probs, dtype=np.float32) if not torch.is_tensor(probs) else probs)
        p = p.detach().to("cpu", torch.float32)
        if p.ndim == 1:
            p = p[None]
        if p.shape[-1] != self.num_classes:
            raise ValueError(f"expected {self.num_classes} class probabilities, got {p.shape[-1]}")
        k = min(k, self.num_classes)
        values, order = torch.topk(p, k=k, dim=-1)
        index = order.numpy().astype(np.int64)
        ids = np.asarray(self.class_ids, dtype=np.int64)[index]
        prob = values.numpy()
        names = self.display_names_by_index()
        text = [[format_label(prob[t, j], names[index[t, j]]) for j in range(k)] for t in range(index.shape[0])]
        return TopActions(index=index, ava_id=ids, prob=prob, text=text)


# --- reading the released label files -------------------------------------------------------------


def read_plain_pickle(path: Path) -> object:
    """A released AVA label file: joblib dumps of plain containers (ints, strings, dicts, sets; ids may be
    numpy integers), read through the AVA allow-list: nothing else may be constructed."""
    return load_pickle(path, AVA_LABELS)


def parse_class_mapping(obj: object, source: str) -> tuple[int, ...]:
    """`{1: id, 2: id, ...}` (output index + 1 -> AVA id) -> ids by output index."""
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{source}: expected a dict {{index+1: AVA id}}, got {type(obj).__name__}.")
    keys = sorted(int(k) for k in obj)
    if keys != list(range(1, len(keys) + 1)):
        raise WeightsError(f"{source}: keys must be 1..N (output index + 1), got {keys[:5]}...")
    return tuple(int(obj[k]) if k in obj else int(obj[str(k)]) for k in keys)


def parse_label_map(obj: object, source: str) -> dict[int, str]:
    """ava_labels.pkl holds `(label_map, class_ids)`; label_map is a list of {'id', 'name'} or a dict id -> name."""
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        obj = obj[0]
    if isinstance(obj, Mapping):
        return {int(k): str(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and all(isinstance(e, Mapping) and "id" in e and "name" in e for e in obj):
        return {int(e["id"]): str(e["name"]) for e in obj}
    raise WeightsError(f"{source}: expected (label_map, class_ids) with a list of {{'id', 'name'}} entries.")


def load_action_labels(weights: WeightFiles) -> ActionLabels:
    """Labels from the weights folder: the released class mapping when present, else the assumed one.

    ava_labels.pkl is read only to check it (when present): the demo overrides its names with its
    hard-coded short names, and so do we.
    """
    if weights.ava_labels.is_file():
        parse_label_map(read_plain_pickle(weights.ava_labels), weights.ava_labels.name)
    if not weights.ava_class_mapping.is_file():
        return ActionLabels()
    ids = parse_class_mapping(read_plain_pickle(weights.ava_class_mapping), weights.ava_class_mapping.name)
    return ActionLabels(class_ids=ids, source=str(weights.ava_class_mapping))


def write_label_files(weights: WeightFiles) -> list[Path]:
    """Write ava_class_mapping.pkl and ava_labels.pkl with the assumed content, in the released layout.

    The mapping is `{index + 1: AVA id}`; ava_labels.pkl is `(label_map, class_ids)` with label_map a list
    of `{'id', 'name'}` for the 60 evaluated classes (the layout of the AVA evaluation's label-map reader;
    the released file's exact content is unknown offline and the demo never uses its names).
    """
    import joblib  # only needed when writing

    weights.ava_class_mapping.parent.mkdir(parents=True, exist_ok=True)
    mapping = {i + 1: ava_id for i, ava_id in enumerate(DEFAULT_CLASS_MAPPING)}
    label_map = [{"id": ava_id, "name": AVA_ACTION_NAMES[ava_id]} for ava_id in EVALUATED_AVA_IDS]
    joblib.dump(mapping, weights.ava_class_mapping)
    joblib.dump((label_map, set(EVALUATED_AVA_IDS)), weights.ava_labels)
    return [weights.ava_class_mapping, weights.ava_labels]
