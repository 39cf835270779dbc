"""How much work a run did, for the `work` section of results.json (and the estimate's refinement)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from lart_demo.contracts import FramePeople


@dataclass
class WorkCounts:
    frames: int = 0  # frames of the analysed clip
    detections: int = 0  # people found (after the minimum-size filter), summed over frames
    tracks: int = 0  # tracks kept for actions (at most Settings.max_people)
    mvit_clips: int = 0  # appearance clips of all tracks (one per 6 track frames)
    mvit_backbone_passes: int = 0  # distinct clips: tracks with the same frames share one backbone pass
    hmr2_crops: int = 0  # crops through HMR2.0 (one per detection)
    lart_windows: int = 0  # LART encoder windows over all tracks

    def as_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items()}


def counting_people(people: Iterable[FramePeople], counts: WorkCounts) -> Iterator[FramePeople]:
    """Pass the people stage's frames through, counting detections and HMR2 crops."""
    for frame in people:
        counts.detections += len(frame.people)
        counts.hmr2_crops += len(frame.people)
        yield frame
