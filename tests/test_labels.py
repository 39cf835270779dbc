"""AVA label table, the demo's label strings, and the released label files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from lart_demo.errors import WeightsError
from lart_demo.labels import (
    AVA_ACTION_NAMES,
    DEFAULT_CLASS_MAPPING,
    DEMO_DISPLAY_NAMES,
    EVALUATED_AVA_IDS,
    ActionLabels,
    format_label,
    load_action_labels,
    write_label_files,
)
from lart_demo.weights.files import WeightFiles


def test_table_facts() -> None:
    assert sorted(AVA_ACTION_NAMES) == list(range(1, 81))
    assert len(EVALUATED_AVA_IDS) == 60 and list(EVALUATED_AVA_IDS) == sorted(EVALUATED_AVA_IDS)
    not_evaluated = {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75}
    assert set(EVALUATED_AVA_IDS) == set(range(1, 81)) - not_evaluated
    assert DEFAULT_CLASS_MAPPING[0] == 1 and DEFAULT_CLASS_MAPPING[14] == 17 and DEFAULT_CLASS_MAPPING[59] == 80
    assert DEMO_DISPLAY_NAMES[17] == "carry (an O)" and AVA_ACTION_NAMES[17] == "carry/hold (an object)"


@pytest.mark.parametrize(
    ("prob", "text"),
    [
        (0.97, "97% : x"),
        (0.125, "12% : x"),  # 12.5 -> round half to even
        (0.135, "14% : x"),
        (0.995, "100% : x"),  # round(99.5, 2) = 99.5 -> even -> 100
        (0.00001, "0% : x"),
        (1.0, "100% : x"),
    ],
)
def test_format_label_rounding(prob: float, text: str) -> None:
    assert format_label(prob, "x") == text


def test_top_actions_order_and_names() -> None:
    labels = ActionLabels()
    probs = np.zeros((2, 60), np.float32)
    probs[0, [2, 10, 59]] = [0.5, 0.9, 0.7]
    probs[1, [0, 1, 3]] = [0.2, 0.3, 0.1]
    top = labels.top_actions(probs)
    assert top.index.tolist() == [[10, 59, 2], [1, 0, 3]]
    assert top.ava_id.tolist() == [[12, 80, 4], [3, 1, 5]]
    assert top.text[0] == ["90% : stand", "70% : watch (a P)", "50% : dance"]
    assert AVA_ACTION_NAMES[labels.class_ids[10]] == "stand" and labels.display_name(14) == "carry (an O)"


def test_unknown_display_name_is_na() -> None:
    labels = ActionLabels(class_ids=(2, 4))  # crawl has no demo short name
    assert labels.display_names_by_index() == ["n/a", "dance"]
    with pytest.raises(WeightsError):
        ActionLabels(class_ids=(0, 81))


def test_label_files_round_trip_and_released_mapping_wins(tmp_path: Path) -> None:
    files = WeightFiles(tmp_path)
    assert load_action_labels(files).class_ids == DEFAULT_CLASS_MAPPING  # no files: the assumed mapping
    write_label_files(files)
    assert load_action_labels(files).class_ids == DEFAULT_CLASS_MAPPING
    reversed_ids = {i + 1: int(np.int64(v)) for i, v in enumerate(reversed(DEFAULT_CLASS_MAPPING))}
    files.ava_class_mapping.write_bytes(pickle.dumps(reversed_ids))
    labels = load_action_labels(files)
    assert labels.class_ids == tuple(reversed(DEFAULT_CLASS_MAPPING))
    assert labels.display_name(0) == "watch (a P)"


def test_label_files_refuse_code(tmp_path: Path) -> None:
    files = WeightFiles(tmp_path)
    write_label_files(files)
    files.ava_class_mapping.write_bytes(pickle.dumps({1: Path("x")}))
    with pytest.raises(WeightsError, match=r"Refused to load ava_class_mapping\.pkl: it refers to pathlib"):
        load_action_labels(files)
    files.ava_class_mapping.write_bytes(pickle.dumps({0: 1, 1: 3}))
    with pytest.raises(WeightsError, match="keys must be 1..N"):
        load_action_labels(files)
