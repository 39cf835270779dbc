"""Timeline data for the player and segment search."""

from __future__ import annotations

import numpy as np
import pytest

from lart_demo.errors import InputError
from lart_demo.pipeline.timeline import (
    HEAT_ABSENT,
    HEAT_LEVELS,
    PersonTimeline,
    find_segments,
    heat_rows,
    per_frame_topk_union,
    player_payload,
    top_action_indices,
)

NAMES = ["stand", "walk", "run", "sit", "dance"]


def person(track_id: int, frames: list[int], probs: list[list[float]]) -> PersonTimeline:
    return PersonTimeline(track_id, "#ff0000", np.array(frames), np.array(probs, dtype=float))


def test_segments_merge_small_gaps_and_split_large_ones() -> None:
    p = person(
        3,
        [0, 1, 2, 3, 5, 6, 10, 11],
        [[0, 0, 0, 0, v] for v in [0.9, 0.8, 0.2, 0.7, 0.9, 0.95, 0.6, 0.1]],
    )
    segs = find_segments([p], NAMES, "dance", fps=10, threshold=0.5, max_gap_frames=1)
    # hits at frames 0,1 | 3 | 5,6 | 10 -> gaps of 2 frames split them
    assert [(s.start_s, s.end_s) for s in segs] == [(0.0, 0.2), (0.3, 0.4), (0.5, 0.7), (1.0, 1.1)]
    assert segs[2].peak == pytest.approx(0.95)
    merged = find_segments([p], NAMES, "dance", fps=10, threshold=0.5, max_gap_frames=2)
    assert [(s.start_s, s.end_s) for s in merged] == [(0.0, 0.7), (1.0, 1.1)]


def test_segments_filter_by_person_duration_and_sort_by_time() -> None:
    a = person(1, [4, 5, 6], [[0.9, 0, 0, 0, 0]] * 3)
    b = person(2, [0, 1], [[0.8, 0, 0, 0, 0]] * 2)
    segs = find_segments([a, b], NAMES, "stand", fps=2, threshold=0.5)
    assert [s.track_id for s in segs] == [2, 1]
    assert [s.track_id for s in find_segments([a, b], NAMES, "stand", fps=2, track_id=1)] == [1]
    assert find_segments([a, b], NAMES, "stand", fps=2, min_duration_s=1.5) == [s for s in segs if s.track_id == 1]
    assert "#1 stand" in segs[1].label()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"action": "fly"}, "Unknown action"), ({"threshold": 1.5}, "between 0 and 1"), ({"fps": 0}, "frame rate")],
)
def test_segment_search_rejects_bad_queries(kwargs: dict, message: str) -> None:
    args = {"action": "stand", "fps": 10.0, "threshold": 0.5} | kwargs
    with pytest.raises(InputError, match=message):
        find_segments([], NAMES, **args)


def test_top_actions_and_payload_keep_every_per_frame_top_action() -> None:
    rng = np.random.default_rng(0)
    probs = rng.random((20, len(NAMES)))
    p = PersonTimeline(7, "#00ff00", np.arange(5, 25), probs)
    top2 = top_action_indices(p, 2)
    assert top2 == list(np.argsort(-probs.mean(0))[:2])
    union = per_frame_topk_union(p, 2)
    for row in probs:
        assert set(np.argsort(-row)[:2]) <= set(union)
    payload = player_payload([p], NAMES, fps=10, n_frames=30, top_k=2, bar_k=2)
    entry = payload["people"][0]
    assert entry["traces"] == [NAMES[i] for i in top2]
    assert set(entry["actions"]) == {NAMES[i] for i in set(union) | set(top2)}
    assert entry["start"] == 0.5 and entry["end"] == 2.5
    assert len(entry["probs"][entry["traces"][0]]) == 20
    assert payload["n_frames"] == 30 and payload["fps"] == 10.0


def test_heat_rows_hold_every_action_binned_over_time() -> None:
    probs = np.zeros((6, len(NAMES)))
    probs[:, 2] = [0.0, 1.0, 1.0, 1.0, 0.5, 0.5]
    p = PersonTimeline(1, "#000000", np.arange(2, 8), probs)  # frames 2..7 of a 10-frame clip
    rows = heat_rows(p, n_frames=10, bins=5)  # two frames a bin
    assert len(rows) == len(NAMES) and all(len(r) == 5 for r in rows)
    top = len(HEAT_LEVELS) - 1
    assert (
        rows[2]
        == HEAT_ABSENT + HEAT_LEVELS[round(0.5 * top)] + HEAT_LEVELS[top] + HEAT_LEVELS[round(0.5 * top)] + HEAT_ABSENT
    )
    assert rows[0] == HEAT_ABSENT + "000" + HEAT_ABSENT


def test_payload_gives_each_action_one_colour_for_everyone() -> None:
    rng = np.random.default_rng(1)
    a = PersonTimeline(1, "#ff0000", np.arange(10), rng.random((10, len(NAMES))))
    b = PersonTimeline(2, "#00ff00", np.arange(10), rng.random((10, len(NAMES))))
    payload = player_payload([a, b], NAMES, fps=10, n_frames=10, top_k=3)
    colors = payload["colors"]
    traced = {n for person in payload["people"] for n in person["traces"]}
    assert set(colors) == traced
    assert len(set(colors.values())) == len(colors)  # distinct while the palette lasts
    assert payload["names"] == list(NAMES) and payload["heat_bins"] == 10
    assert all(len(person["heat"]) == len(NAMES) for person in payload["people"])
