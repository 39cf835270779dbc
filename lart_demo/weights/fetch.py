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
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lart_demo.config import Settings
from lart_demo.contracts import ProgressFn, no_progress
from lart_demo.errors import WeightsError
from lart_demo.weights.files import WeightFiles
from lart_demo.weights.manifest import Manifest, ManifestFile, load_manifest
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
    archives_done: dict[str, Path] = field(default_factory=dict)
    archive_errors: dict[str, str] = field(default_factory=dict)
    # after one connection failure a host (or the Hub) is skipped for the rest of the run, so an
    # offline machine fails in seconds instead of waiting out every file's timeouts and retries
    dead_hosts: dict[str, str] = field(default_factory=dict)
    hub_dead: str | None = None

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
        from huggingface_hub import errors as hf_errors

        self.progress(entry.path, 0, entry.size)
        local_dir = self.downloads / "hub"
        try:
            path = Path(self.hub_download(self.settings.hf_repo, filename, self.settings.hf_revision, local_dir))
        except (hf_errors.RemoteEntryNotFoundError, hf_errors.EntryNotFoundError) as exc:
            if isinstance(exc, hf_errors.LocalEntryNotFoundError):  # offline: nothing else will work either
                self.hub_dead = failure_reason(exc)
            raise
        except _hub_errors() as exc:  # repo/revision missing, gated, unreachable: same for every file
            self.hub_dead = failure_reason(exc)
            raise
        size = path.stat().st_size
        self.progress(entry.path, size, size)
        return path

    def archive_path(self, archive_id: str) -> Path:
        if archive_id in self.archives_done:
            return self.archives_done[archive_id]
        if archive_id in self.archive_errors:  # do not retry a 2.7 GB download for every member
            raise WeightsError(self.archive_errors[archive_id])
        archive = self.manifest.archives[archive_id]
        final = self.downloads / f"{archive_id}.archive"
        errors = []
        if final.is_file():
            self.archives_done[archive_id] = final
            return final
        for url in archive.urls:
            try:
                part = self.fetch_url(url, self._part_for(f"{archive_id}.archive", url), f"{archive_id} (archive)")
                if archive.size is not None and part.stat().st_size != archive.size:
                    part.unlink()
                    raise WeightsError(f"{url}: archive has the wrong size.")
                if archive.sha256 and sha256_of(part) != archive.sha256:
                    part.unlink()
                    raise WeightsError(f"{url}: archive sha256 mismatch.")
                os.replace(part, final)
                self.archives_done[archive_id] = final
                return final
            except _FETCH_ERRORS as exc:
                errors.append(f"{url}: {failure_reason(exc)}")
        self.archive_errors[archive_id] = "; ".join(errors)
        raise WeightsError(self.archive_errors[archive_id])

    def from_archive(self, entry: ManifestFile, archive_id: str, member: str) -> Path:
        archive = self.archive_path(archive_id)
        wanted = _normalise_member(member)
        out = self._part_for(entry.path, f"{archive_id}:{member}")
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(archive, mode="r:*") as tar:
                for info in tar:
                    if info.isfile() and _normalise_member(info.name) == wanted:
                        src = tar.extractfile(info)
                        if src is None:
                            break
                        with src, out.open("wb") as dst:
                            shutil.copyfileobj(src, dst, CHUNK)
                        return out
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise WeightsError(f"cannot read the {archive_id} archive: {exc}") from exc
        raise WeightsError(f"{member} is not in the {archive_id} archive")


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
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id, filename, revision=revision, local_dir=local_dir)


def _hub_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub import errors as hf_errors

    return (
        hf_errors.HfHubHTTPError,
        hf_errors.EntryNotFoundError,
        hf_errors.HFValidationError,
        OSError,  # connection errors raised by the HTTP client below huggingface_hub
    )


def _install(path: Path, target: Path) -> None:
    """Move a verified file into place atomically (same filesystem: the weights folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.resolve() == target.parent.resolve() or _same_device(path, target.parent):
        os.replace(path, target)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as dst, path.open("rb") as src:
            shutil.copyfileobj(src, dst, CHUNK)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _fetch_entry(fetcher: _Fetcher, entry: ManifestFile, target: Path) -> list[str]:
    """Try the entry's sources in order until one gives a verified file. Returns the failures (empty = ok)."""
    failures: list[str] = []
    hub_enabled = bool(fetcher.settings.hf_repo) and fetcher.hub_download is not None
    for source in entry.sources:
        if source.hub is not None and not hub_enabled:
            continue
        try:
            if source.hub is not None:
                got = fetcher.from_hub(entry, source.hub)
            elif source.url is not None:
                got = fetcher.from_url(entry, source.url)
            else:
                got = fetcher.from_archive(entry, source.archive or "", source.member or "")
        except _FETCH_ERRORS + _hub_errors() as exc:
            failures.append(f"{source.describe(fetcher.settings)}: {failure_reason(exc)}")
            continue
        try:
            verify_file(got, entry)
        except WeightsError as exc:
            got.unlink(missing_ok=True)  # a wrong file must not be resumed or installed
            failures.append(f"{source.describe(fetcher.settings)}: {exc}")
            continue
        _install(got, target)
        return []
    if not failures:
        failures.append("no usable source (Hub disabled and no origin URL)")
    return failures


def _provide_smpl(fetcher: _Fetcher, entry: ManifestFile, accept_license: bool) -> list[str]:
    settings = fetcher.settings
    files = WeightFiles(fetcher.weights_dir)
    if not files.smpl_neutral_clean.is_file() and settings.smpl_path is None and not files.smpl_neutral.is_file():
        if not accept_license:
            return ["not downloaded: the SMPL licence has not been accepted"]
        failures = _fetch_entry(fetcher, entry, files.smpl_neutral)
        if failures:
            return failures
    return prepare_smpl(settings)


def _describe_failures(failures: list[tuple[ManifestFile, list[str]]], fetcher: _Fetcher, weights_dir: Path) -> str:
    settings = fetcher.settings
    lines = [f"{len(failures)} weight file(s) are missing from {weights_dir}:"]
    unreachable = [f"{host} ({why})" for host, why in fetcher.dead_hosts.items()]
    if fetcher.hub_dead:
        unreachable.insert(0, f"Hugging Face Hub {settings.hf_repo}@{settings.hf_revision} ({fetcher.hub_dead})")
    if unreachable:
        lines.append("  unreachable: " + "; ".join(unreachable))
    # connection failures are summarised above; list only what went wrong beyond them
    offline_marks = [*fetcher.dead_hosts, *([fetcher.hub_dead] if fetcher.hub_dead else []), ": skipped, "]
    for entry, reasons in failures:
        how = how_to_get(entry, settings, fetcher.manifest)
        lines.append(f"- {entry.path} (needed for {', '.join(entry.required_for)}): {how}")
        lines.extend(f"    {r}" for r in reasons if not any(mark in r for mark in offline_marks))
    lines.append(
        f"Run the download again when online (interrupted downloads resume), or copy the files into {weights_dir} "
        "(LART_DEMO_WEIGHTS picks another folder)."
    )
    return "\n".join(lines)


def download_weights(
    settings: Settings,
    accept_smpl_license: bool = False,
    progress: ProgressFn = no_progress,
    *,
    manifest: Manifest | None = None,
    only: Sequence[str] | None = None,
    hub_download: HubDownload | None = _default_hub_download,
    timeout: float = 60.0,
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
    accept = accept_smpl_license or settings.accept_smpl_license
    fetcher = _Fetcher(weights_dir, settings, manifest, progress, hub_download, timeout)
    wanted = set(only) if only else None
    failures: list[tuple[ManifestFile, list[str]]] = []
    for entry in manifest.files:
        if wanted is not None and entry.id not in wanted and entry.path not in wanted:
            continue
        if entry.licensed == "smpl":
            reasons = _provide_smpl(fetcher, entry, accept)
        else:
            target = entry.target(weights_dir)
            if target.is_file() and size_problem(entry, target.stat().st_size) is None:
                continue
            reasons = _fetch_entry(fetcher, entry, target)
        if reasons:
            failures.append((entry, reasons))
    _drop_finished_archives(fetcher)
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


def _drop_finished_archives(fetcher: _Fetcher) -> None:
    """Delete a downloaded origin archive once every file it can provide is in place (they are large)."""
    for archive_id, path in fetcher.archives_done.items():
        users = [e for e in fetcher.manifest.files if any(s.archive == archive_id for s in e.sources)]
        if all(e.target(fetcher.weights_dir).is_file() for e in users):
            path.unlink(missing_ok=True)
