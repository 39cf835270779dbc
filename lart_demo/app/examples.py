"""The page's examples: a real clip with people, fetched once when online, and a generated offline fallback.

No third-party footage is committed. The real example is a few seconds cut from a film under a
Creative Commons licence, fetched on the app's first start into `<output_dir>/examples/` and reused
from there. Offline, the fetch fails within its timeouts and the generated clip is the only example;
startup never waits longer than `FETCH_WAIT_S` for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from lart_demo.config import Settings
from lart_demo.video.examples import write_example_clip
from lart_demo.video.io import VideoWriter

log = logging.getLogger(__name__)

GENERATED_NAME = "generated_example.mp4"
FETCH_WAIT_S = 8.0  # the longest startup waits for the first fetch; a slower one is used from the next start
NETWORK_TIMEOUT_S = 5.0  # per connect and per read
FETCH_LIMIT_S = 60.0  # give up a fetch that trickles
MAX_SIDE = 640


@dataclass(frozen=True)
class RemoteExample:
    name: str  # the cached file's name
    url: str
    start_s: float
    duration_s: float
    credit: str  # source and licence, shown beside the example


TEARS_OF_STEEL = RemoteExample(
    name="tears_of_steel_excerpt.mp4",
    # Google's public mirror of the Blender Foundation's film (HTTP range requests: only the excerpt is read)
    url="https://commondatastorage.googleapis.com/gtv-videos-bucket/sample/TearsOfSteel.mp4",
    start_s=40.0,
    duration_s=5.0,
    credit=(
        "Excerpt of *Tears of Steel* (2012), © Blender Foundation | mango.blender.org, "
        "licensed [CC BY 3.0](https://creativecommons.org/licenses/by/3.0/); fetched on first start, not shipped."
    ),
)


def examples_dir(settings: Settings) -> Path:
    return Path(settings.output_dir) / "examples"


def generated_example(settings: Settings) -> Path:
    """The offline example, generated on first use (simple figures: real detectors find few people in it)."""
    path = examples_dir(settings) / GENERATED_NAME
    if not path.is_file():
        write_example_clip(path)
    return path


def fetch_excerpt(example: RemoteExample, dest: Path, timeout_s: float = NETWORK_TIMEOUT_S) -> Path:
    """Cut `example`'s excerpt out of the remote video into `dest` (H.264, at most MAX_SIDE px).

    Only the excerpt is downloaded (ffmpeg seeks with range requests). Raises on any failure, leaving
    nothing at `dest`.
    """
    started = time.monotonic()
    with av.open(example.url, timeout=(timeout_s, timeout_s)) as source, contextlib.ExitStack() as stack:
        stream = source.streams.video[0]
        fps = float(stream.average_rate or 24)
        source.seek(int(example.start_s / stream.time_base), stream=stream, backward=True)
        writer: VideoWriter | None = None
        for frame in source.decode(stream):
            if time.monotonic() - started > FETCH_LIMIT_S:
                raise TimeoutError(f"fetching {example.url} took longer than {FETCH_LIMIT_S:g} s")
            t = float(frame.pts * stream.time_base) if frame.pts is not None else example.start_s
            if t < example.start_s:
                continue
            if t >= example.start_s + example.duration_s:
                break
            image = frame.to_ndarray(format="rgb24")
            scale = min(1.0, MAX_SIDE / max(image.shape[:2]))
            if scale < 1.0:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            if writer is None:  # the writer leaves no file behind when anything below fails
                writer = stack.enter_context(VideoWriter(dest, fps, (image.shape[1], image.shape[0])))
            writer.write(np.ascontiguousarray(image))
        if writer is None:
            raise ValueError(f"{example.url} has no frames after {example.start_s:g} s")
    return dest


class ExampleFetcher:
    """Fetches the real example once per output folder, in a daemon thread (DNS lookups have no timeout)."""

    def __init__(self, settings: Settings, example: RemoteExample = TEARS_OF_STEEL) -> None:
        self.example = example
        self.path = examples_dir(settings) / example.name
        self.thread: threading.Thread | None = None

    def available(self) -> Path | None:
        return self.path if self.path.is_file() else None

    def start(self) -> None:
        if self.available() or self.thread is not None:
            return
        self.thread = threading.Thread(target=self._fetch, name="lart-example-fetch", daemon=True)
        self.thread.start()

    def wait(self, seconds: float = FETCH_WAIT_S) -> Path | None:
        """The real example when it is (or becomes, within `seconds`) available, else None."""
        if self.thread is not None:
            self.thread.join(seconds)
        return self.available()

    def _fetch(self) -> None:
        try:
            fetch_excerpt(self.example, self.path)
            log.info("fetched the example %s", self.path)
        except Exception as exc:  # offline or the host changed: the generated example stays
            log.info("the real example could not be fetched (%s); using the generated one", exc)


def example_rows(settings: Settings, fetch: bool) -> list[tuple[Path, str]]:
    """(clip, caption) of every example to show: the real one first when it is there."""
    rows: list[tuple[Path, str]] = []
    if fetch:
        fetcher = ExampleFetcher(settings)
        fetcher.start()
        real = fetcher.wait()
        if real is not None:
            rows.append((real, fetcher.example.credit))
    rows.append((generated_example(settings), ""))
    return rows
