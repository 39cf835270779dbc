"""Sentences shown to the user in more than one place (results files, CLI, web page), worded once."""

from __future__ import annotations

# every output of a run made with random weights carries this (results.json "warning", actions.csv, banners)
RANDOM_WEIGHTS_NOTICE = "random weights: predictions are meaningless"
# written on every frame of a video rendered with random weights: capitals, so it reads as a warning
RANDOM_WEIGHTS_MARK = RANDOM_WEIGHTS_NOTICE.replace("random weights", "RANDOM WEIGHTS", 1)
