"""Reading batch.csv back in the tests."""

from __future__ import annotations

import csv
from pathlib import Path


def read_summary(path: Path) -> list[dict[str, str]]:
    """batch.csv's rows."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
