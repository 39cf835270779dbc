"""Downloads: each missing file from its sources in order, resumable, verified, installed atomically.

Sources are a Hugging Face Hub repo (`Settings.hf_repo` at `Settings.hf_revision`), origin URLs
(urllib, HTTP Range resume) and members of origin archives. Interrupted downloads wait in
`<weights>/.downloads/` for the next run; a file appears under its final name only when verified.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lart_demo.atomic import atomic_output
from lart_demo.config import Settings
from lart_demo.errors import WeightsError
from lart_demo.progress import ProgressFn, no_progress
from lart_demo.weights import lock
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import Archive, Manifest, ManifestFile, load_manifest
from lart_demo.weights.smpl import prepare_smpl
from lart_demo.weights.status import FileStatus, how_to_get, weights_status
from lart_demo.weights.verify import CHUNK, sha256_of, size_problem, verify_file

DOWNLOADS_DIR = ".downloads"  # inside the weights folder: resumable partial downloads, origin archives
# what a failed source may raise; the next source is tried and the reason reported
_FETCH_ERRORS: tuple[type[BaseException], ...] = (
    WeightsError,
    OSError,  # includes urllib's URLError/HTTPError, timeouts, resets
    ValueError,
    http.client.HTTPException,  # IncompleteRead and friends
)
_USER_AGENT = "lart-demo-weights/0.1 (+https://huggingface.co)"

# hub_download(repo_id, filename, revision, local_dir) -> path of the downloaded file
HubDownload = Callable[[str, str, str, Path], str]


@dataclass
class _Fetcher:
    weights_dir: Path
    settings: Settings
    manifest: Manifest
    progress: ProgressFn
    hub_download: HubDownload | None
    timeout: float
    archive_parts: dict[str, dict[str, Path]] = field(default_factory=dict)  # archive -> member -> .part
    archive_errors: dict[str, str] = field(default_factory=dict)
    # after one connection failure a host (or the Hub) is skipped for the rest of the run, so an
    # offline machine fails in seconds instead of waiting out every file's timeouts and retries
    dead_hosts: dict[str, str] = field(default_factory=dict)
    hub_dead: str | None = None

    def hub_error_types(self) -> tuple[type[BaseException], ...]:
        return _hub_errors()

    @property
    def downloads(self) -> Path:
        return self.weights_dir / DOWNLOADS_DIR

    # -- one URL into a resumable .part file
    def fetch_url(self, url: str, part: Path, label: str) -> Path:
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": _USER_AGENT}
        if have:
            headers["Range"] = f"bytes={have}-"
        host = urllib.parse.urlsplit(url).netloc
        if host in self.dead_hosts:
            raise WeightsError(f"skipped, {host} was unreachable earlier ({self.dead_hosts[host]})")
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # the part already holds the whole file
                return part
            raise
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if host:
                self.dead_hosts[host] = failure_reason(exc)
            raise
        with response:
            status = getattr(response, "status", None) or response.getcode()
            length = response.headers.get("Content-Length")
            if status == 206:
                start = _content_range_start(response.headers.get("Content-Range"))
                if start != have:
                    raise WeightsError(f"{url}: the server resumed at byte {start}, not {have}.")
                total = have + int(length) if length else None
                mode = "ab"
            else:  # 200 (or file://): the server sent the whole file, start over
                have = 0
                total = int(length) if length else None
                mode = "wb"
            done = have
            self.progress(label, done, total)
            part.parent.mkdir(parents=True, exist_ok=True)
            with part.open(mode) as fh:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    fh.write(chunk)
                    done += len(chunk)
                    self.progress(label, done, total)
        if total is not None and done != total:
            raise WeightsError(f"{url}: connection closed after {done} of {total} bytes (run again to resume).")
        return part

    def _part_for(self, relpath: str, source_key: str) -> Path:
        tag = hashlib.sha256(source_key.encode()).hexdigest()[:8]
        return self.downloads / f"{relpath}.{tag}.part"

    # -- the three source kinds; each returns a complete, unverified file inside the weights folder
    def from_url(self, entry: ManifestFile, url: str) -> Path:
        return self.fetch_url(url, self._part_for(entry.path, url), entry.path)

    def from_hub(self, entry: ManifestFile, filename: str) -> Path:
        if self.hub_download is None:
            raise WeightsError("Hub downloads are disabled.")
        if self.hub_dead is not None:
            raise WeightsError(f"skipped, the Hub failed earlier ({self.hub_dead})")
        self.progress(entry.path, 0, entry.size)
        local_dir = self.downloads / "hub"
        try:
            path = Path(self.hub_download(self.settings.hf_repo, filename, self.settings.hf_revision, local_dir))
        except _hub_errors() as exc:
            if not _is_missing_file(exc):  # offline, repo or revision missing, gated: the same for every file
                self.hub_dead = failure_reason(exc)
            raise
        size = path.stat().st_size
        self.progress(entry.path, size, size)
        return path

    def archive_members(self, archive_id: str) -> dict[str, Path]:
        """Stream the archive once and keep only the members some missing file needs, as .part files.

        Nothing else is written: no multi-GB archive on disk, and on failure the partial members are
        deleted. Each host in `archive.urls` is tried in order; the result is remembered for the run.
        """
        if archive_id in self.archive_parts:
            return self.archive_parts[archive_id]
        if archive_id in self.archive_errors:  # do not stream 2.7 GB again for every member
            raise WeightsError(self.archive_errors[archive_id])
        archive = self.manifest.archives[archive_id]
        wanted = {
            _normalise_member(src.member or ""): self._part_for(entry.path, f"{archive_id}:{src.member}")
            for entry in self.manifest.files
            for src in entry.sources
            if src.archive == archive_id and not entry.target(self.weights_dir).is_file()
        }
        errors = []
        for url in archive.urls:
            try:
                self.archive_parts[archive_id] = self._stream_members(url, archive, wanted)
                return self.archive_parts[archive_id]
            except _FETCH_ERRORS + (tarfile.TarError, EOFError) as exc:
                for part in wanted.values():
                    part.unlink(missing_ok=True)
                errors.append(f"{url}: {failure_reason(exc)}")
        self.archive_errors[archive_id] = "; ".join(errors)
        raise WeightsError(self.archive_errors[archive_id])

    def _stream_members(self, url: str, archive: Archive, wanted: dict[str, Path]) -> dict[str, Path]:
        host = urllib.parse.urlsplit(url).netloc
        if host in self.dead_hosts:
            raise WeightsError(f"skipped, {host} was unreachable earlier ({self.dead_hosts[host]})")
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError:
            raise  # the host answered (404, 403): other files on it may still be there
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            self.dead_hosts[host] = failure_reason(exc)
            raise
        label = f"{archive.id} (archive, streamed)"
        with response:
            length = response.headers.get("Content-Length")
            counted = _CountingReader(response, label, int(length) if length else None, self.progress)
            found: dict[str, Path] = {}
            with tarfile.open(fileobj=counted, mode="r|*") as tar:
                for info in tar:
                    part = wanted.get(_normalise_member(info.name))
                    if part is None or not info.isfile():
                        continue
                    src = tar.extractfile(info)
                    if src is None:
                        continue
                    part.parent.mkdir(parents=True, exist_ok=True)
                    with src, part.open("wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                    found[_normalise_member(info.name)] = part
                    if len(found) == len(wanted):
                        break  # every member we need is out: stop reading the rest of the archive
        return found

    def from_archive(self, entry: ManifestFile, archive_id: str, member: str) -> Path:
        parts = self.archive_members(archive_id)
        part = parts.get(_normalise_member(member))
        if part is None or not part.is_file():
            raise WeightsError(f"{member} is not in the {archive_id} archive")
        return part


class _CountingReader:
    """A read-only stream that reports progress (tarfile's stream mode reads through it)."""

    def __init__(self, raw: Any, label: str, total: int | None, progress: ProgressFn) -> None:
        self.raw, self.label, self.total, self.progress = raw, label, total, progress
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.done += len(chunk)
        self.progress(self.label, self.done, self.total)
        return chunk


def _normalise_member(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _content_range_start(value: str | None) -> int:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        raise WeightsError(f"The server answered a resume request with an unusable Content-Range {value!r}.")
    return int(value[6:].split("-", 1)[0])


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


def _default_hub_download(repo_id: str, filename: str, revision: str, local_dir: Path) -> str:
    from huggingface_hub import hf_hub_download  # optional at import time: only a user mirror needs it

    return hf_hub_download(repo_id, filename, revision=revision, local_dir=local_dir)


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What a Hub download may raise, by classes present in every huggingface_hub that requirements.txt
    admits (>= 0.33.5, through 1.x and 2.x): HTTP errors (missing repo, revision or file, gated),
    LocalEntryNotFoundError (offline: the client wraps connection errors in it), bad repo ids."""
    from huggingface_hub import errors as hf_errors  # optional at import time: only a user mirror needs it

    return (
        hf_errors.HfHubHTTPError,
        hf_errors.EntryNotFoundError,
        hf_errors.LocalEntryNotFoundError,
        hf_errors.HFValidationError,
        OSError,
    )


def _is_missing_file(exc: BaseException) -> bool:
    """A 404 for one file: other files of the same mirror may still be there."""
    from huggingface_hub import errors as hf_errors  # optional at import time: only a user mirror needs it

    if isinstance(exc, hf_errors.LocalEntryNotFoundError):
        return False  # offline or unreachable: every other file fails the same way
    if isinstance(exc, (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError)):
        return False
    return isinstance(exc, hf_errors.EntryNotFoundError)


def _install(path: Path, target: Path) -> None:
    """Move a verified file into place atomically (same filesystem: the weights folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.resolve() == target.parent.resolve() or _same_device(path, target.parent):
        os.replace(path, target)
        return
    with atomic_output(target, "wb") as dst, path.open("rb") as src:
        shutil.copyfileobj(src, dst, CHUNK)


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def check_against_lock(path: Path, entry: ManifestFile, weights_dir: Path) -> str:
    """The sha256 of a verified candidate file; a WeightsError when it differs from the lock file's entry."""
    digest = sha256_of(path)
    recorded = lock.expected(weights_dir, entry.path)
    if recorded is not None and (recorded.sha256 != digest or recorded.size != path.stat().st_size):
        raise WeightsError(
            f"sha256 {digest[:16]}... differs from the {recorded.sha256[:16]}... recorded on first download "
            f"({lock.LOCK_NAME}; delete its entry to trust a new file)"
        )
    return digest


def _fetch_entry(fetcher: _Fetcher, entry: ManifestFile, target: Path) -> list[str]:
    """Try the entry's sources in order until one gives a verified file. Returns the failures (empty = ok)."""
    failures: list[str] = []
    hub_enabled = bool(fetcher.settings.hf_repo) and fetcher.hub_download is not None
    # huggingface_hub is imported only when a mirror is set
    catch = _FETCH_ERRORS + (fetcher.hub_error_types() if hub_enabled else ())
    for source in entry.sources:
        if source.hub is not None and not hub_enabled:
            continue
        where = source.describe(fetcher.settings, fetcher.manifest.archives)
        try:
            if source.hub is not None:
                got = fetcher.from_hub(entry, source.hub)
            elif source.url is not None:
                got = fetcher.from_url(entry, source.url)
            else:
                got = fetcher.from_archive(entry, source.archive or "", source.member or "")
        except catch as exc:
            failures.append(f"{where}: {failure_reason(exc)}")
            continue
        try:
            verify_file(got, entry)
            digest = check_against_lock(got, entry, fetcher.weights_dir)
        except WeightsError as exc:
            got.unlink(missing_ok=True)  # a wrong file must not be resumed or installed
            failures.append(f"{where}: {exc}")
            continue
        _install(got, target)
        lock.record(fetcher.weights_dir, entry.path, digest)
        return []
    if not failures:
        failures.append("no source left to try (the Hub mirror is not set)")
    return failures


# ----------------------------------------------------------------------------------------------
# download


WHAT_YOU_CAN_DO = (
    "set a Hub mirror you control (LART_DEMO_HF_REPO=user/repo, LART_DEMO_HF_REVISION=sha), "
    "or run `python -m lart_demo weights import` to take the files from an existing PHALP/4D-Humans install, "
    "or copy the files by name into {folder}, "
    "or for a test install without the released models run `python -m lart_demo weights make-random DIR --profile tiny`"
)


def _describe_failures(failures: list[tuple[ManifestFile, list[str]]], fetcher: _Fetcher, weights_dir: Path) -> str:
    """First line: what the user can do. Then the unreachable hosts once, then each file once."""
    settings = fetcher.settings
    lines = [
        f"{len(failures)} weight file(s) could not be obtained for {weights_dir}. What you can do: "
        + WHAT_YOU_CAN_DO.format(folder=weights_dir)
        + "."
    ]
    hub_host = urllib.parse.urlsplit(hub_endpoint()).netloc
    unreachable = [
        f"{host} ({why})"
        for host, why in fetcher.dead_hosts.items()
        if not (fetcher.hub_dead and host == hub_host)  # the same host, named as the Hub below
    ]
    if fetcher.hub_dead:
        unreachable.insert(0, f"Hugging Face Hub {settings.hf_repo}@{settings.hf_revision} ({fetcher.hub_dead})")
    if unreachable:
        lines.append("Unreachable: " + "; ".join(unreachable))
    for entry, reasons in failures:
        # connection failures are summarised above; list only what went wrong beyond them
        own = [r for r in reasons if ": skipped, " not in r and not any(f"//{h}/" in r for h in fetcher.dead_hosts)]
        detail = "; ".join(own) if own else "every host unreachable"
        if entry.licensed == "smpl":
            detail = f"{'; '.join(reasons)}; {how_to_get(entry, settings, fetcher.manifest)}"
        lines.append(f"- {entry.path} (needed for {', '.join(entry.required_for)}): {detail}")
    lines.append("Interrupted downloads resume on the next run; then check with `python -m lart_demo weights verify`.")
    return "\n".join(lines)


def _probe_hosts(urls: Sequence[str], timeout: float) -> dict[str, str]:
    """Connect to every distinct host at once; those that fail are skipped for the whole run, so an offline
    machine gets its answer within one `timeout` instead of one per host, file and retry."""
    hosts = {}
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname:
            hosts[parts.netloc] = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))

    def probe(item: tuple[str, tuple[str, int]]) -> tuple[str, str | None]:
        netloc, address = item
        try:
            socket.create_connection(address, timeout=timeout).close()
            return netloc, None
        except OSError as exc:
            return netloc, f"cannot connect ({exc.strerror or exc})"

    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        return {netloc: why for netloc, why in pool.map(probe, hosts.items()) if why is not None}


def _source_urls(fetcher: _Fetcher, entries: Sequence[ManifestFile]) -> list[str]:
    urls = []
    for entry in entries:
        for src in entry.sources:
            if src.url:
                urls.append(src.url)
            elif src.archive:
                urls.extend(fetcher.manifest.archives[src.archive].urls)
            elif src.hub and fetcher.settings.hf_repo and fetcher.hub_download is not None:
                urls.append(hub_endpoint())
    return urls


def hub_endpoint() -> str:
    """The Hub's address (HF_ENDPOINT, as huggingface_hub reads it), for the reachability probe."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def download_weights(
    settings: Settings,
    progress: ProgressFn = no_progress,
    *,
    manifest: Manifest | None = None,
    only: Sequence[str] | None = None,
    hub_download: HubDownload | None = _default_hub_download,
    timeout: float = 20.0,
    probe_timeout: float = 8.0,
) -> list[FileStatus]:
    """Fetch every missing file (or those whose id/path is in `only`); raise WeightsError listing failures.

    `progress(label, bytes_done, bytes_total_or_None)` is called while bytes arrive.
    """
    manifest = manifest or load_manifest()
    weights_dir = Path(settings.weights_dir)
    files = WeightFiles(weights_dir)
    if files.is_random():
        raise WeightsError(
            f"{weights_dir} holds random weights ({files.random_marker.name} marker). Download into another folder "
            "(--weights DIR / LART_DEMO_WEIGHTS) or delete this one first."
        )
    weights_dir.mkdir(parents=True, exist_ok=True)
    weights_status(settings, manifest)  # moves aside any file that no longer matches the lock file
    fetcher = _Fetcher(weights_dir, settings, manifest, progress, hub_download, timeout)
    wanted = set(only) if only else None
    todo = []
    for entry in manifest.files:
        if wanted is not None and entry.id not in wanted and entry.path not in wanted:
            continue
        target = entry.target(weights_dir)
        if entry.licensed is None and target.is_file() and size_problem(entry, target.stat().st_size) is None:
            continue
        todo.append(entry)
    fetcher.dead_hosts.update(_probe_hosts(_source_urls(fetcher, todo), probe_timeout))
    hub_host = urllib.parse.urlsplit(hub_endpoint()).netloc
    if settings.hf_repo and hub_host in fetcher.dead_hosts:
        fetcher.hub_dead = fetcher.dead_hosts[hub_host]
    failures: list[tuple[ManifestFile, list[str]]] = []
    try:
        for entry in todo:
            if entry.licensed == "smpl":
                reasons = prepare_smpl(settings)
            else:
                reasons = _fetch_entry(fetcher, entry, entry.target(weights_dir))
            if reasons:
                failures.append((entry, reasons))
    finally:
        _drop_archive_parts(fetcher)
        _prune_empty_dirs(fetcher.downloads)
    if failures:
        raise WeightsError(_describe_failures(failures, fetcher, weights_dir))
    return weights_status(settings, manifest)


def _prune_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if not any(root.iterdir()):
        root.rmdir()


def _drop_archive_parts(fetcher: _Fetcher) -> None:
    """Members streamed from an archive that no file took (it verified from another member or failed)."""
    for parts in fetcher.archive_parts.values():
        for part in parts.values():
            part.unlink(missing_ok=True)
