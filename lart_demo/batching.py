"""Batch sizes from free memory, and batches that halve on out-of-memory instead of failing the run.

On CUDA the free memory is `torch.cuda.mem_get_info`; on CPU it is the kernel's MemAvailable. A stage
states how many bytes one item needs at most; the first batch uses a fraction of what is free, and an
out-of-memory error halves the batch and retries the same items (down to one item, which then raises).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import torch

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

FREE_FRACTION = 0.5  # of the free memory a stage's batch may plan to use (other stages and fragmentation)
_CPU_OOM_TEXT = ("can't allocate memory", "not enough memory", "out of memory")


def available_bytes(device: torch.device) -> int:
    """Free memory on `device`: CUDA's free bytes, or the host's MemAvailable (bytes)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return host_available_bytes()


def host_available_bytes() -> int:
    """/proc/meminfo MemAvailable; without it (non-Linux), psutil's figure; else assume 4 GB."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        import psutil  # optional: only needed where /proc/meminfo does not exist
    except ImportError:
        return 4 << 30
    return int(psutil.virtual_memory().available)


def batch_from_memory(free_bytes: int, bytes_per_item: int, cap: int, fraction: float = FREE_FRACTION) -> int:
    """Items per batch that fit in `fraction` of `free_bytes`, between 1 and `cap`."""
    return max(1, min(cap, int(free_bytes * fraction) // max(1, bytes_per_item)))


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's 'can't allocate memory' RuntimeError."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _CPU_OOM_TEXT)


class AdaptiveBatches:
    """Runs items in batches of `size`, halving `size` (and keeping it halved) whenever a batch runs out of memory."""

    def __init__(self, size: int, what: str, device: torch.device):
        self.size = max(1, int(size))
        self.what = what
        self.device = device
        self.halvings = 0

    def run(self, items: Sequence[T], forward: Callable[[Sequence[T]], R]) -> Iterator[tuple[Sequence[T], R]]:
        """Yield (batch, forward(batch)) for consecutive batches covering `items` in order."""
        start = 0
        while start < len(items):
            size = self.size
            batch = items[start : start + size]
            try:
                result = forward(batch)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc) or size == 1:
                    raise
                self._release()
                self.size = max(1, size // 2)
                self.halvings += 1
                log.warning("%s ran out of memory at %d per batch; retrying with %d", self.what, size, self.size)
                continue
            yield batch, result
            start += len(batch)

    def _release(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
