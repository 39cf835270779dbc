"""Batch workers on Ray: each worker is one actor that loads the models once and then analyses many inputs.

Without an address a private local Ray instance is started (shut down at the end); with `--ray-address` the
batch joins an existing cluster (`ray start --head` / `ray start --address=HEAD:6379`). Every node must see the
inputs, the weights folder and the batch folder at the same paths (a shared file system), and have lart-demo
installed. Ray is an optional extra, imported only here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayError

import lart_demo
from lart_demo.batch.ledger import Outcome
from lart_demo.batch.runner import BatchSpec, Job, PoolOptions, process_job
from lart_demo.errors import InputError, LartDemoError

log = logging.getLogger(__name__)

# Only small messages (jobs, outcomes) travel through Ray's object store; results go straight to the batch folder.
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024
STOP_GRACE_S = 60.0  # how long a stopping batch waits for runs in flight to reach their next step
READY_NOTICE_S = 120.0  # after this, say which workers are still starting (the cluster may lack resources)
MAX_RESTARTS = 2  # a worker process that dies (out of memory, ...) is restarted this often


class BatchWorker:
    """One Ray actor. `process` runs one job; `stop` (a second thread: max_concurrency=2) cancels it."""

    def __init__(self, spec: BatchSpec, threads: int) -> None:
        import torch  # heavy: only in the worker process

        torch.set_num_threads(threads)  # the CPUs Ray reserved for this worker, no more
        self._spec = spec
        self._cancel = threading.Event()

    def ready(self) -> str:
        """Load the models; '' when ready, else the one-line reason they could not load."""
        from lart_demo.pipeline.analysis import load_models  # heavy: loads in the worker, once

        try:
            load_models(self._spec.settings)
        except LartDemoError as exc:
            return str(exc)
        return ""

    def process(self, job: Job) -> Outcome | None:
        return process_job(job, self._spec, self._cancel)

    def stop(self) -> None:
        self._cancel.set()


def check_resources(resources: Mapping[str, float], options: PoolOptions) -> None:
    """Refuse (one line) a worker count the cluster cannot place: Ray would otherwise wait for it forever."""
    for name, per_worker, flag in (
        ("CPU", options.cpus_per_worker, "--cpus-per-worker"),
        ("GPU", options.gpus_per_worker, "--gpus-per-worker"),
    ):
        need = options.workers * per_worker
        have = float(resources.get(name, 0.0))
        if need > have + 1e-9:
            raise InputError(
                f"--workers {options.workers} x {flag} {per_worker:g} needs {need:g} {name}s but the Ray cluster "
                f"has {have:g}. Use fewer workers or add nodes (ray start --address=HEAD:6379)."
            )


def _runtime_env() -> dict[str, Any]:
    """Workers of a local instance import lart_demo from where this process does (it may not be installed)."""
    here = str(Path(lart_demo.__file__).resolve().parents[1])
    paths = [here, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}


class RayPool:
    """`options.workers` actors; each holds at most one job at a time."""

    def __init__(
        self, spec: BatchSpec, options: PoolOptions, stop: threading.Event, printer: Callable[[str], None]
    ) -> None:
        self._started_local = options.ray_address is None
        quiet = {"log_to_driver": options.verbose, "logging_level": logging.INFO if options.verbose else logging.ERROR}
        if self._started_local:
            printer(f"Starting a local Ray instance with {options.workers} workers...")
            try:
                ray.init(
                    address="local",  # never join a cluster by accident ($RAY_ADDRESS, a `ray start` here)
                    num_cpus=options.workers * options.cpus_per_worker,
                    num_gpus=None if options.gpus_per_worker else 0,  # GPUs are looked for only when asked for
                    include_dashboard=False,
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    runtime_env=_runtime_env(),
                    **quiet,
                )
            except (RayError, RuntimeError, OSError, ValueError) as exc:
                raise LartDemoError(f"Could not start a local Ray instance: {exc}") from exc
        else:
            printer(f"Joining the Ray cluster at {options.ray_address} with {options.workers} workers...")
            try:
                ray.init(address=options.ray_address, **quiet)
            except (ConnectionError, RayError, ValueError) as exc:
                raise InputError(f"Could not join the Ray cluster at {options.ray_address}: {exc}") from exc
        try:
            check_resources(ray.cluster_resources(), options)
            actor = ray.remote(BatchWorker).options(
                num_cpus=options.cpus_per_worker,
                num_gpus=options.gpus_per_worker,
                max_concurrency=2,
                max_restarts=MAX_RESTARTS,
            )
            self._actors = [actor.remote(spec, options.cpus_per_worker) for _ in range(options.workers)]
            self._wait_ready(stop, printer)
        except BaseException:
            self.close()
            raise
        self.slots = len(self._actors)
        self._idle = list(self._actors)
        self._running: dict[Any, tuple[Any, Job]] = {}
        self._recovering: dict[Any, Any] = {}  # ready() call -> a worker Ray is restarting
        self._deaths: dict[Any, int] = {}  # worker -> times it died

    def _wait_ready(self, stop: threading.Event, printer: Callable[[str], None]) -> None:
        pending = {actor.ready.remote(): actor for actor in self._actors}
        started = time.monotonic()
        noticed = False
        while pending and not stop.is_set():
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=1.0)
            for ref in done:
                pending.pop(ref)
                reason = ray.get(ref)
                if reason:
                    raise LartDemoError(reason)
            if pending and not noticed and time.monotonic() - started > READY_NOTICE_S:
                noticed = True
                printer(f"Still waiting for {len(pending)} worker(s) to start (is the cluster short of resources?)")

    def busy(self) -> int:
        return len(self._running) + len(self._recovering)

    def submit(self, job: Job) -> None:
        actor = self._idle.pop()
        self._running[actor.process.remote(job)] = (actor, job)

    def _recover(self, actor: Any) -> None:
        """Wait for Ray's restart of a worker that died before it gets another job."""
        self._recovering[actor.ready.remote()] = actor

    def _drop(self, actor: Any) -> None:
        self.slots -= 1  # Ray gave up on it: the batch goes on with the others

    def _died(self, actor: Any, exc: RayActorError) -> None:
        self._deaths[actor] = self._deaths.get(actor, 0) + 1
        if isinstance(exc, ActorDiedError) or self._deaths[actor] > MAX_RESTARTS:
            self._drop(actor)
        else:
            self._recover(actor)

    def _job_done(self, ref: Any) -> tuple[Job, Outcome | None]:
        actor, job = self._running.pop(ref)
        try:
            outcome = ray.get(ref)
        except RayActorError as exc:
            self._died(actor, exc)
            # not the input's fault as far as we know: failed in batch.csv, but tried again on the next run
            reason = (
                f"The worker analysing it died ({type(exc).__name__}); it may have run out of memory. "
                "The next run tries it again."
            )
            return job, Outcome(job.item.label, "failed", reason, retry_next_run=True)
        except RayError as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            outcome = Outcome(job.item.label, "failed", f"The worker failed ({type(exc).__name__}: {first}).")
        self._idle.append(actor)
        return job, outcome

    def _recovered(self, ref: Any) -> None:
        actor = self._recovering.pop(ref)
        try:
            reason = ray.get(ref)
        except ActorUnavailableError:
            time.sleep(0.5)  # still restarting: ask again shortly
            self._recover(actor)
            return
        except RayActorError as exc:
            self._died(actor, exc)
            return
        if reason:
            self._drop(actor)  # a restarted worker that cannot load the models is of no use
        else:
            self._idle.append(actor)

    def collect(self, timeout: float) -> list[tuple[Job, Outcome | None]]:
        done, _ = ray.wait([*self._running, *self._recovering], num_returns=1, timeout=timeout)
        finished = []
        for ref in done:
            if ref in self._recovering:
                self._recovered(ref)
            else:
                finished.append(self._job_done(ref))
        return finished

    def stop(self) -> list[tuple[Job, Outcome | None]]:
        """Cancel the runs in flight; return those that finished meanwhile (outcome None: cancelled)."""
        for actor, _job in self._running.values():
            actor.stop.remote()
        finished: list[tuple[Job, Outcome | None]] = []
        deadline = time.monotonic() + STOP_GRACE_S
        while self._running and time.monotonic() < deadline:
            finished.extend(self.collect(timeout=1.0))
        for _ref, (_actor, job) in self._running.items():
            finished.append((job, None))  # still running: killed with its worker, done again next time
        self._running.clear()
        return finished

    def close(self) -> None:
        for actor in getattr(self, "_actors", []):
            try:
                ray.kill(actor)
            except (RayError, ValueError):
                pass  # already gone
        ray.shutdown()  # stops a local instance; for a cluster only disconnects this driver
