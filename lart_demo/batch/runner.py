"""Drives a batch: plan each input (skip what is done), hand the rest to workers, record every outcome.

Workers are either this process (`--workers 1`, no Ray address) or Ray actors (ray_workers.py); both run
`process_job`, which is the single-video analysis (`pipeline.run.run_analysis`) plus a move of the finished run
folder into the batch folder. So each input's files are exactly what `python -m lart_demo VIDEO` writes.

Ctrl-C once: the run in flight stops at its next step, nothing half-written is kept, batch.csv and the state are
consistent, and the same command continues where it stopped. Ctrl-C twice: stop at once (the state stays valid).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from lart_demo.batch.inputs import BatchInput, expand_inputs, folder_name
from lart_demo.batch.ledger import Outcome, State, Summary
from lart_demo.config import Settings
from lart_demo.errors import InputError, LartDemoError
from lart_demo.pipeline.cache import key_from_parts, key_options
from lart_demo.pipeline.cache_store import RunCache, cache_bytes
from lart_demo.pipeline.request import AnalysisRequest
from lart_demo.pipeline.results import read_result_json
from lart_demo.pipeline.run import run_analysis
from lart_demo.progress import Cancelled, no_progress

log = logging.getLogger(__name__)

WORK_DIR = ".work"  # the pipeline's working area inside the batch folder (runs are moved out when done)
Printer = Callable[[str], None]


@dataclass(frozen=True)
class BatchSpec:
    """What every input is analysed with; paths are absolute so workers on other machines read the same files."""

    out_dir: Path
    settings: Settings
    start_s: float | None = None
    end_s: float | None = None
    render: bool = True

    @classmethod
    def create(
        cls,
        out_dir: Path,
        settings: Settings,
        start_s: float | None = None,
        end_s: float | None = None,
        render: bool = True,
    ) -> BatchSpec:
        out_dir = Path(out_dir).expanduser().resolve()
        absolute = {
            name: Path(value).expanduser().resolve()
            for name in ("weights_dir", "boxes_file", "smpl_path")
            if (value := getattr(settings, name)) is not None
        }
        settings = replace(settings, **absolute, output_dir=out_dir / WORK_DIR)
        return cls(out_dir, settings, start_s, end_s, render)

    def request(self, source: str) -> AnalysisRequest:
        return AnalysisRequest(source, self.settings, self.start_s, self.end_s, self.render)

    def options_json(self) -> str:
        return key_options(self.settings, self.start_s, self.end_s, self.render)


@dataclass(frozen=True)
class Job:
    index: int  # position in the expanded inputs (batch.csv order)
    item: BatchInput
    digest: str  # content hash
    key: str  # content hash + options: the state's key
    folder: str  # result folder name inside the batch folder


def _move_into_place(spec: BatchSpec, run_dir: Path, final: Path) -> None:
    """Take the finished run out of the batch's private run cache (under the run's lock, as the cache evicts)
    and make it the result folder `final`, replacing an older result only once the new one is in place."""
    cache = RunCache(spec.settings.output_dir, cache_bytes(spec.settings.cache_gb))
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    with cache.lock(run_dir.name):
        if final.exists():
            final.rename(old)
        run_dir.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def process_job(job: Job, spec: BatchSpec, cancel: threading.Event) -> Outcome | None:
    """Analyse one input into its result folder. Returns its outcome, or None when `cancel` stopped it."""
    started = time.monotonic()

    def failed(reason: str) -> Outcome:
        return Outcome(job.item.label, "failed", reason, output="", elapsed_s=time.monotonic() - started)

    try:
        run = run_analysis(spec.request(job.item.source), cancel=cancel)
        final = spec.out_dir / job.folder
        _move_into_place(spec, run.out_dir, final)
        result = read_result_json(final / "results.json")
    except Cancelled:
        return None
    except LartDemoError as exc:
        return failed(str(exc))
    except Exception as exc:  # one input's unexpected failure must not stop the batch; its reason is recorded
        log.debug("%s failed", job.item.label, exc_info=True)
        return failed(f"Unexpected error ({type(exc).__name__}: {exc}). Rerun it alone with --verbose for details.")
    return Outcome(
        job.item.label,
        "ok",
        duration_s=result.clip.duration_s,
        frames=result.clip.n_frames,
        tracks=len(result.tracks),
        output=job.folder,
        elapsed_s=time.monotonic() - started,
    )


class Pool(Protocol):
    """Where jobs run. `collect` returns the jobs that finished (outcome None: stopped by `stop`)."""

    slots: int

    def busy(self) -> int: ...

    def submit(self, job: Job) -> None: ...

    def collect(self, timeout: float) -> list[tuple[Job, Outcome | None]]: ...

    def stop(self) -> list[tuple[Job, Outcome | None]]: ...

    def close(self) -> None: ...


class InProcessPool:
    """One worker: this process (models load once, on the first input, and stay loaded)."""

    slots = 1

    def __init__(self, spec: BatchSpec, cancel: threading.Event) -> None:
        from lart_demo.pipeline.analysis import load_models  # heavy: only when something is to be analysed

        self._spec = spec
        self._cancel = cancel
        self._job: Job | None = None
        load_models(spec.settings)  # missing weights stop the batch once, instead of failing every input

    def busy(self) -> int:
        return int(self._job is not None)

    def submit(self, job: Job) -> None:
        self._job = job

    def collect(self, timeout: float) -> list[tuple[Job, Outcome | None]]:
        job, self._job = self._job, None
        return [] if job is None else [(job, process_job(job, self._spec, self._cancel))]

    def stop(self) -> list[tuple[Job, Outcome | None]]:
        return []  # the job runs inside collect(), which already saw the cancel event

    def close(self) -> None:
        pass


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """One line per finished input: counts so far and an ETA from the rate of inputs analysed in this run."""

    def __init__(self, total: int, printer: Printer) -> None:
        self.total = total
        self.counts = {"ok": 0, "failed": 0, "skipped": 0}
        self._printer = printer
        self._started: float | None = None
        self._analysed = 0

    def analysis_started(self) -> None:
        if self._started is None:
            self._started = time.monotonic()

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def eta(self) -> str:
        if not self._analysed or self._started is None:
            return "ETA --"
        per_input = (time.monotonic() - self._started) / self._analysed
        return f"ETA {_fmt_duration(per_input * (self.total - self.done))}"

    def finished(self, outcome: Outcome, analysed: bool) -> None:
        self.counts[outcome.status] += 1
        self._analysed += int(analysed)
        took = f" ({outcome.elapsed_s:.1f} s)" if analysed and outcome.elapsed_s is not None else ""
        why = f": {outcome.reason}" if outcome.status == "failed" else ""
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items())
        self._printer(
            f"[{self.done}/{self.total}] {outcome.status} {outcome.input}{took}{why} | {counts} | {self.eta()}"
        )


@contextlib.contextmanager
def _interrupts(stop: threading.Event, printer: Printer) -> Iterator[None]:
    """First Ctrl-C: set `stop` (work in flight ends at its next step). Second Ctrl-C: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread; Ctrl-C then raises as usual
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        printer("Stopping after the current step (Ctrl-C again to stop at once); rerun the command to continue.")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def require_ray(workers: int) -> None:
    """A one-line InputError when Ray is needed but not installed."""
    try:
        import ray  # noqa: F401  (optional extra: only Ray batches need it)
    except ImportError as exc:
        raise InputError(
            f"--workers {workers} needs Ray, which is not installed: pip install -r requirements-batch.txt "
            "(or pip install 'lart-demo[batch]'), or use --workers 1."
        ) from exc


@dataclass(frozen=True)
class PoolOptions:
    workers: int = 1
    ray_address: str | None = None
    cpus_per_worker: int = 1
    gpus_per_worker: float = 0.0
    verbose: bool = False

    @property
    def uses_ray(self) -> bool:
        return self.workers > 1 or self.ray_address is not None


def _make_pool(spec: BatchSpec, options: PoolOptions, stop: threading.Event, printer: Printer) -> Pool:
    if not options.uses_ray:
        return InProcessPool(spec, stop)
    from lart_demo.batch.ray_workers import RayPool  # imports Ray (optional extra)
    from lart_demo.pipeline.analysis import ensure_weights

    ensure_weights(spec.settings, no_progress)  # download missing weights once, not once per worker
    return RayPool(spec, options, stop, printer)


def run_batch(
    inputs: Sequence[str],
    spec: BatchSpec,
    options: PoolOptions,
    retry_failed: bool = False,
    printer: Printer | None = None,
) -> int:
    """Process every input; returns the exit code (0: nothing failed, 1: some input failed, 130: stopped)."""
    printer = printer or (lambda line: print(line, file=sys.stderr, flush=True))
    if options.workers < 1:
        raise InputError(f"--workers must be 1 or more (got {options.workers}).")
    if options.cpus_per_worker < 1 or options.gpus_per_worker < 0:
        raise InputError("--cpus-per-worker must be 1 or more and --gpus-per-worker 0 or more.")
    if options.uses_ray:
        require_ray(options.workers)
    items = expand_inputs(inputs, exclude=spec.out_dir)
    if not items:
        raise InputError("The inputs name no videos or links (an empty list?).")
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    batch = _Batch(items, spec, options, retry_failed, printer)
    printer(f"{len(items)} input(s); results in {spec.out_dir}")
    batch.run()
    counts = batch.progress.counts
    printer(
        f"{'Stopped' if batch.stop.is_set() else 'Done'}: {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} skipped of {len(items)}. Summary: {batch.summary.path}"
    )
    if batch.stop.is_set():
        printer("Run the same command again to continue where it stopped.")
        return 130
    return 1 if counts["failed"] else 0


class _Batch:
    """The scheduling loop: plan lazily (hashing as it goes), keep every worker busy, record as results arrive."""

    def __init__(
        self, items: list[BatchInput], spec: BatchSpec, options: PoolOptions, retry_failed: bool, printer: Printer
    ) -> None:
        self.items = items
        self.spec = spec
        self.options = options
        self.retry_failed = retry_failed
        self.printer = printer
        self.state = State(spec.out_dir)
        self.summary = Summary(spec.out_dir)
        self.progress = Progress(len(items), printer)
        self.stop = threading.Event()
        self._options_json = spec.options_json()
        self._pool: Pool | None = None

    def _finish(self, index: int, outcome: Outcome, analysed: bool = False) -> None:
        self.summary.set(index, outcome)
        self.progress.finished(outcome, analysed)

    def _plan(self, index: int, item: BatchInput) -> Job | Outcome:
        if item.error is not None:
            return Outcome(item.label, "failed", item.error)
        try:
            digest = self.state.digest(item)
        except OSError as exc:
            return Outcome(item.label, "failed", f"{item.label} could not be read ({exc.strerror or exc}).")
        key = key_from_parts(digest, self._options_json)
        record = self.state.finished(key)
        if record is not None and record.outcome.status == "ok":
            return replace(
                record.outcome,
                input=item.label,
                status="skipped",
                reason="already done with the same content and options",
                elapsed_s=None,
            )
        if record is not None and not self.retry_failed:
            return replace(
                record.outcome,
                input=item.label,
                status="skipped",
                reason=f"failed before (add --retry-failed to try again): {record.outcome.reason}",
                elapsed_s=None,
            )
        return Job(index, item, digest, key, folder_name(item, digest))

    def _record(self, job: Job, outcome: Outcome | None) -> None:
        if outcome is None:
            return  # stopped before it finished: not recorded, so the next run does it
        if not outcome.retry_next_run:
            self.state.add(job.key, job.digest, job.item, outcome)
        self._finish(job.index, outcome, analysed=True)

    def run(self) -> None:
        pending = deque(enumerate(self.items))
        waiting: dict[str, list[tuple[int, BatchInput]]] = {}  # same content and options as a job in flight
        in_flight: set[str] = set()
        try:
            with _interrupts(self.stop, self.printer):
                while not self.stop.is_set():
                    while pending and not self.stop.is_set():
                        if self._pool is not None and self._pool.busy() >= self._pool.slots:
                            break
                        index, item = pending.popleft()
                        planned = self._plan(index, item)
                        if isinstance(planned, Outcome):
                            self._finish(index, planned)
                        elif planned.key in in_flight:
                            waiting.setdefault(planned.key, []).append((index, item))
                        else:
                            if self._pool is None:  # started only when something needs analysing
                                self._pool = _make_pool(self.spec, self.options, self.stop, self.printer)
                                self.progress.analysis_started()
                            if self.stop.is_set():
                                break  # stopped while the workers started
                            self._pool.submit(planned)
                            in_flight.add(planned.key)
                    if self._pool is None or not self._pool.busy():
                        if pending:
                            continue
                        break
                    for job, outcome in self._pool.collect(timeout=0.5):
                        in_flight.discard(job.key)
                        self._record(job, outcome)
                        pending.extendleft(reversed(waiting.pop(job.key, [])))  # now planned as done (or failed)
                    if self._pool.slots < 1:
                        raise LartDemoError("Every batch worker died (see the Ray logs); rerun to continue.")
                if self.stop.is_set() and self._pool is not None:
                    for job, outcome in self._pool.stop():
                        self._record(job, outcome)
        finally:
            if self._pool is not None:
                self._pool.close()
            self.summary.write()
