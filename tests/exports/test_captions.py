"""actions.vtt / actions.srt: a WebVTT parser reads the captions; cues follow each person's top actions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import webvtt
from export_scenes import FPS, N_FRAMES, synthetic_result

from lart_demo.exports.captions import caption_cues, write_captions


def _probs(n: int, top: list[tuple[int, int, float, float]]) -> np.ndarray:
    """(n, 4) probabilities: 0.05 everywhere except (first, last, run, jump) rows given as top."""
    probs = np.full((n, 4), 0.05, np.float32)
    for first, last, run, jump in top:
        probs[first:last, 0] = run
        probs[first:last, 1] = jump
    return probs


def _two_people():
    # person 3: runs (with some jumping) for 1 s, then jumps; person 5: a 1-frame blip inside a steady walk
    p3 = _probs(40, [(0, 25, 0.87, 0.42), (25, 40, 0.2, 0.9)])
    p5 = np.full((30, 4), 0.05, np.float32)
    p5[:, 3] = 0.7
    p5[12, 2] = 0.95  # one frame of "stand": too short for a cue of its own
    return synthetic_result({3: (np.arange(0, 40), p3), 5: (np.arange(20, 50), p5)})


def test_webvtt_parser_reads_every_cue(tmp_path: Path) -> None:
    vtt, _ = write_captions(tmp_path, _two_people(), top_k=2, min_prob=0.3)
    captions = webvtt.read(str(vtt))
    texts = [c.text for c in captions]
    assert texts == ["#3: run 87%, jump 42%", "#5: walk 70%", "#3: jump 90%"]
    starts = [c.start for c in captions]
    assert starts == sorted(starts)  # WebVTT wants cues in start order (same-width clocks sort as text)
    assert captions[0].start == "00:00:00.000" and captions[0].end == "00:00:01.000"
    assert captions[2].start == "00:00:01.000" and captions[2].end == "00:00:01.600"
    assert captions[1].start == "00:00:00.800" and captions[1].end == "00:00:02.000"


def test_srt_mirrors_the_vtt_cues(tmp_path: Path) -> None:
    _, srt = write_captions(tmp_path, _two_people(), top_k=2, min_prob=0.3)
    blocks = srt.read_text().strip().split("\n\n")
    assert len(blocks) == 3
    for n, block in enumerate(blocks, start=1):
        index, timing, text = block.split("\n")
        assert index == str(n)
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", timing)
        assert text.startswith("#")


def test_cue_text_lists_top_actions_and_respects_min_prob() -> None:
    result = _two_people()
    cues = caption_cues(result, top_k=3, min_prob=0.0)
    # ties (all 5%) keep the lower output index, so the third action is "stand" in both of #3's cues
    assert [c.text for c in cues if c.track_id == 3] == [
        "#3: run 87%, jump 42%, stand 5%",
        "#3: jump 90%, run 20%, stand 5%",
    ]
    assert all(c.end_s > c.start_s for c in cues)
    assert max(c.end_s for c in cues) <= N_FRAMES / FPS


def test_random_weights_say_so_for_the_whole_clip(tmp_path: Path) -> None:
    p = _probs(10, [(0, 10, 0.6, 0.1)])
    result = synthetic_result({1: (np.arange(10), p)}, random_weights=True)
    vtt, srt = write_captions(tmp_path, result, top_k=1, min_prob=0.0)
    captions = webvtt.read(str(vtt))
    assert captions[0].text == "random weights: predictions are meaningless"
    assert captions[0].end == "00:00:02.400"
    assert "random weights" in srt.read_text()


def test_action_names_are_escaped_in_webvtt(tmp_path: Path) -> None:
    result = _two_people()
    result.action_names[0] = "run <fast> & far"
    vtt, srt = write_captions(tmp_path, result, top_k=1, min_prob=0.5)
    assert "run &lt;fast&gt; &amp; far 87%" in vtt.read_text()
    assert "run <fast> & far 87%" in srt.read_text()
    webvtt.read(str(vtt))
