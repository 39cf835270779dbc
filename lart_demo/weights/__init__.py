"""The weights folder: what must be in it, where each file comes from, and how it gets there.

`weights/manifest.json` lists every file (path inside the weights folder, sources in order, size
and sha256 where known, licence, the stages that need it). This module:

- `weights_status(settings)`: present/missing per file (cheap: existence and size, no hashing);
- `download_weights(settings, ...)`: the Hugging Face Hub repo `Settings.hf_repo` at the pinned
  `Settings.hf_revision` first, then the origin URLs (urllib) or members of an origin archive.
  Downloads resume (HTTP Range), are verified (size, sha256, or a structural check when the hash is
  unknown) and appear under their final name only when complete (temp file + rename). Interrupted
  downloads wait in `<weights>/.downloads/` for the next run;
- SMPL: licensed, so it is never downloaded unless the user accepts the licence, or it is read from
  `Settings.smpl_path`; the original pickle is read without chumpy and cached as a clean .npz;
- `make_random_weights(dir, profile, seed)`: a complete folder of random weights in the released
  formats (each model module writes its own files) plus the RANDOM_WEIGHTS marker;
- `mirror_weights(to_repo, token)`: copies the origin files to a Hub repo the user controls;
- `weights_cli(argv)`: the `python -m lart_demo weights ...` subcommands.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import importlib
import json
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lart_demo.config import Settings, settings_from_env
from lart_demo.errors import LartDemoError, WeightsError
from lart_demo.notices import RANDOM_WEIGHTS_NOTICE
from lart_demo.progress import ProgressFn, no_progress
from lart_demo.weights.files import WeightFiles

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "weights" / "manifest.json"
DOWNLOADS_DIR = ".downloads"  # inside the weights folder: resumable partial downloads, origin archives
RANDOM_BANNER = RANDOM_WEIGHTS_NOTICE
# model modules that write their own files for `make-random`, in pipeline order
RANDOM_WEIGHT_WRITERS = ("hmr2", "detector", "hmar", "pose_predictor", "mvit", "lart")
SMPL_LICENSE_URL = "https://smpl.is.tue.mpg.de"
_CHUNK = 1 << 20
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
# upload(local_file, path_in_repo, repo_id) -> id of the commit it made (None when unknown)
Uploader = Callable[[Path, str, str], "str | None"]


# ----------------------------------------------------------------------------------------------
# the manifest


@dataclass(frozen=True)
class Source:
    """One place a file can come from: a Hub path, an origin URL, or a member of an origin archive."""

    hub: str | None = None
    url: str | None = None
    archive: str | None = None
    member: str | None = None

    def describe(self, settings: Settings | None = None, archives: dict[str, Archive] | None = None) -> str:
        if self.hub is not None:
            repo = settings.hf_repo if settings else "<hf_repo>"
            rev = settings.hf_revision if settings else "<revision>"
            return f"hf://{repo}@{rev}/{self.hub}"
        if self.url is not None:
            return self.url
        archive = (archives or {}).get(self.archive or "")
        where = archive.urls[0] if archive and archive.urls else self.archive
        return f"{where} (member {self.member})"


@dataclass(frozen=True)
class Archive:
    id: str
    urls: tuple[str, ...]
    size: int | None
    sha256: str | None
    description: str = ""


@dataclass(frozen=True)
class ManifestFile:
    id: str  # equals the WeightFiles property naming the same path
    path: str  # relative to the weights folder, '/'-separated
    description: str
    required_for: tuple[str, ...]
    license: str
    sources: tuple[Source, ...]
    size: int | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    check: dict[str, Any] = field(default_factory=dict)
    licensed: str | None = None  # "smpl": needs the user's licence acceptance

    def target(self, weights_dir: Path) -> Path:
        return weights_dir / self.path


@dataclass(frozen=True)
class Manifest:
    files: tuple[ManifestFile, ...]
    archives: dict[str, Archive]
    stages: dict[str, str]

    def file(self, file_id: str) -> ManifestFile:
        for entry in self.files:
            if entry.id == file_id:
                return entry
        raise KeyError(file_id)


def load_manifest(path: Path | None = None) -> Manifest:
    """Parse and validate a manifest (default: the tracked `weights/manifest.json`)."""
    path = MANIFEST_PATH if path is None else Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"Cannot read the weights manifest {path}: {exc}") from exc
    archives = {
        key: Archive(key, tuple(a["urls"]), a.get("size"), a.get("sha256"), a.get("description", ""))
        for key, a in raw.get("archives", {}).items()
    }
    stages = dict(raw.get("stages", {}))
    files = []
    for item in raw["files"]:
        sources = tuple(Source(**src) for src in item["sources"])
        for src in sources:
            if src.archive is not None and (src.archive not in archives or not src.member):
                raise WeightsError(f"Manifest entry {item['id']} names an unknown archive {src.archive!r}.")
        unknown_stages = set(item["required_for"]) - set(stages) if stages else set()
        if unknown_stages:
            raise WeightsError(f"Manifest entry {item['id']} names unknown stages {sorted(unknown_stages)}.")
        files.append(
            ManifestFile(
                id=item["id"],
                path=item["path"],
                description=item.get("description", ""),
                required_for=tuple(item["required_for"]),
                license=item.get("license", "unknown"),
                sources=sources,
                size=item.get("size"),
                sha256=item.get("sha256"),
                sha256_prefix=item.get("sha256_prefix"),
                check=dict(item.get("check") or {}),
                licensed=item.get("licensed"),
            )
        )
    return Manifest(tuple(files), archives, stages)


# ----------------------------------------------------------------------------------------------
# status


@dataclass(frozen=True)
class FileStatus:
    id: str
    path: Path  # where the pipeline reads it (for SMPL: the clean .npz)
    present: bool
    size: int | None  # bytes on disk when present
    detail: str  # "ok", "missing", "wrong size ...", "will be converted from ..."
    required_for: tuple[str, ...]
    license: str
    how_to_get: str  # one line: what the user can do when it is missing


def _how_to_get(entry: ManifestFile, settings: Settings, manifest: Manifest | None = None) -> str:
    if entry.licensed == "smpl":
        return (
            f"register at {SMPL_LICENSE_URL}, download the neutral model (basicModel_neutral_lbs_10_207_0_v1.0.0.pkl) "
            "and pass --smpl-path FILE (env LART_DEMO_SMPL_PATH), or accept the SMPL licence with "
            "--accept-smpl-license (env LART_DEMO_ACCEPT_SMPL_LICENSE=1) to download it"
        )
    archives = manifest.archives if manifest else None
    where = " or ".join(
        src.describe(settings, archives) for src in entry.sources if src.hub is None or settings.hf_repo
    )
    return f"`python -m lart_demo weights download` fetches it from {where}"


def _size_problem(entry: ManifestFile, size: int) -> str | None:
    if entry.size is not None and size != entry.size:
        return f"wrong size: {size} bytes, expected {entry.size}"
    if size == 0:
        return "empty file"
    return None


def _smpl_status(entry: ManifestFile, settings: Settings, files: WeightFiles, manifest: Manifest) -> FileStatus:
    clean = files.smpl_neutral_clean
    common = dict(id=entry.id, path=clean, required_for=entry.required_for, license=entry.license)
    how = _how_to_get(entry, settings, manifest)
    if clean.is_file():
        return FileStatus(present=True, size=clean.stat().st_size, detail="ok", how_to_get="", **common)
    if settings.smpl_path is not None:
        if Path(settings.smpl_path).is_file():
            detail = f"will be converted from {settings.smpl_path} (run `weights download`)"
            return FileStatus(present=False, size=None, detail=detail, how_to_get=how, **common)
        detail = f"LART_DEMO_SMPL_PATH / --smpl-path points to {settings.smpl_path}, which does not exist"
        return FileStatus(present=False, size=None, detail=detail, how_to_get=how, **common)
    if files.smpl_neutral.is_file():
        detail = f"will be converted from {files.smpl_neutral.name} (run `weights download`)"
        return FileStatus(present=False, size=None, detail=detail, how_to_get=how, **common)
    return FileStatus(present=False, size=None, detail="missing (licensed)", how_to_get=how, **common)


def weights_status(settings: Settings, manifest: Manifest | None = None) -> list[FileStatus]:
    """One `FileStatus` per manifest file, in manifest order. Reads sizes only (no hashing)."""
    manifest = manifest or load_manifest()
    files = WeightFiles(Path(settings.weights_dir))
    out = []
    for entry in manifest.files:
        if entry.licensed == "smpl":
            out.append(_smpl_status(entry, settings, files, manifest))
            continue
        target = entry.target(files.root)
        common = dict(id=entry.id, path=target, required_for=entry.required_for, license=entry.license)
        if not target.is_file():
            how = _how_to_get(entry, settings, manifest)
            out.append(FileStatus(present=False, size=None, detail="missing", how_to_get=how, **common))
            continue
        size = target.stat().st_size
        problem = _size_problem(entry, size)
        out.append(
            FileStatus(
                present=problem is None,
                size=size,
                detail=problem or "ok",
                how_to_get=f"delete {target} and run `python -m lart_demo weights download`" if problem else "",
                **common,
            )
        )
    return out


def missing_for(settings: Settings, stages: Iterable[str], manifest: Manifest | None = None) -> list[FileStatus]:
    """Files that the given stages need and that are not ready (for a pipeline pre-flight check)."""
    wanted = set(stages)
    return [s for s in weights_status(settings, manifest) if not s.present and wanted & set(s.required_for)]


# ----------------------------------------------------------------------------------------------
# verification


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a"  # torch.save before 1.6: pickle protocol 2 starting with a magic long


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Loads pickles of plain containers and numpy arrays; any other class is refused (no code runs)."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # how Python 3 writes bytes (the array data) in protocol-2 pickles
        ("builtins", "set"),
        ("__builtin__", "set"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which a label or regressor file never needs")


def _check_content(path: Path, check: dict[str, Any]) -> None:
    """Structural check for files whose hash is unknown: catches error pages, truncation, wrong files."""
    kind = check.get("kind")
    name = path.name
    try:
        if kind == "torch":
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    if not any(n.endswith("data.pkl") for n in zf.namelist()):
                        raise ValueError("a zip file without a torch data.pkl")
                    bad = zf.testzip() if path.stat().st_size < (64 << 20) else None  # CRC check on small files
                    if bad:
                        raise ValueError(f"corrupt member {bad}")
            else:
                with path.open("rb") as fh:
                    if fh.read(4) != _TORCH_LEGACY_MAGIC:
                        raise ValueError("not a torch checkpoint (neither zip nor legacy format)")
        elif kind == "yaml":
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a YAML mapping")
        elif kind == "npz":
            with np.load(path, allow_pickle=False) as data:
                lacking = [k for k in check.get("keys", []) if k not in data.files]
            if lacking:
                raise ValueError(f"lacks arrays {lacking}")
        elif kind == "npy":
            with path.open("rb") as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise ValueError("not a .npy file")
        elif kind == "pickle":
            with path.open("rb") as fh:
                _NumpyOnlyUnpickler(fh, encoding="latin1").load()
        elif kind == "json":
            json.loads(path.read_text(encoding="utf-8"))
        elif kind == "smpl":
            from lart_demo.models.smpl import load_smpl_pickle

            load_smpl_pickle(path)
        elif kind:
            raise ValueError(f"unknown check kind {kind!r} in the manifest")
    except WeightsError:
        raise
    except (ValueError, OSError, EOFError, pickle.UnpicklingError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise WeightsError(
            f"{name} is not a valid {kind} file ({exc}); the server may have sent an error page."
        ) from exc
    except Exception as exc:  # yaml.YAMLError and friends: report, never hide
        raise WeightsError(f"{name} is not a valid {kind} file ({type(exc).__name__}: {exc}).") from exc


def verify_file(path: Path, entry: ManifestFile, *, released: bool = True) -> None:
    """Raise WeightsError unless `path` passes the entry's content check and, for `released` files,
    its size and sha256 (or sha256 prefix). Random weights (`released=False`) only get the content check."""
    size = path.stat().st_size
    problem = _size_problem(entry, size) if released else None
    if problem:
        raise WeightsError(f"{entry.path}: {problem}.")
    if released and (entry.sha256 or entry.sha256_prefix):
        digest = sha256_of(path)
        expected = entry.sha256 or entry.sha256_prefix or ""
        if not digest.startswith(expected.lower()):
            raise WeightsError(f"{entry.path}: sha256 mismatch (got {digest[:16]}..., expected {expected[:16]}...).")
    if entry.check:
        _check_content(path, entry.check)


# ----------------------------------------------------------------------------------------------
# fetching: HTTP(S)/file URLs with resume, Hub files, archive members


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
                self.dead_hosts[host] = _reason(exc)
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
                    chunk = response.read(_CHUNK)
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
                self.hub_dead = _reason(exc)
            raise
        except _hub_errors() as exc:  # repo/revision missing, gated, unreachable: same for every file
            self.hub_dead = _reason(exc)
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
                errors.append(f"{url}: {_reason(exc)}")
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
                            shutil.copyfileobj(src, dst, _CHUNK)
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


def _reason(exc: BaseException) -> str:
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
            shutil.copyfileobj(src, dst, _CHUNK)
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
            failures.append(f"{source.describe(fetcher.settings)}: {_reason(exc)}")
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


# ----------------------------------------------------------------------------------------------
# SMPL


def convert_smpl(source: Path, clean: Path) -> Path:
    """Read an SMPL model pickle (chumpy or not) without chumpy and write the clean numpy-only .npz."""
    from lart_demo.models.smpl import load_smpl_pickle

    arrays = load_smpl_pickle(source)
    verts = arrays["v_template"].shape[0]
    expected = {
        "shapedirs": (verts, 3),
        "posedirs": (verts, 3),
        "weights": (verts,),
        "J_regressor": (None, verts),
    }
    for key, prefix in expected.items():
        shape = arrays[key].shape
        if any(want is not None and want != got for want, got in zip(prefix, shape, strict=False)):
            raise WeightsError(f"{source.name}: '{key}' has shape {shape}, which does not fit {verts} vertices.")
    clean.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".smpl.", suffix=".npz", dir=clean.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items() if np.asarray(v).dtype != object})
        os.replace(tmp, clean)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return clean


def _provide_smpl(fetcher: _Fetcher, entry: ManifestFile, accept_license: bool) -> list[str]:
    files = WeightFiles(fetcher.weights_dir)
    settings = fetcher.settings
    if files.smpl_neutral_clean.is_file():
        return []
    if settings.smpl_path is not None:
        src = Path(settings.smpl_path)
        if not src.is_file():
            return [f"--smpl-path / LART_DEMO_SMPL_PATH points to {src}, which does not exist"]
    elif not files.smpl_neutral.is_file():
        if not accept_license:
            return ["not downloaded: the SMPL licence has not been accepted"]
        failures = _fetch_entry(fetcher, entry, files.smpl_neutral)
        if failures:
            return failures
        src = files.smpl_neutral
    else:
        src = files.smpl_neutral
    try:
        convert_smpl(src, files.smpl_neutral_clean)
    except WeightsError as exc:
        return [f"{src}: {exc}"]
    return []


def ensure_smpl(settings: Settings, manifest: Manifest | None = None) -> Path:
    """The clean SMPL file, converted on first use from `Settings.smpl_path` or a SMPL_NEUTRAL.pkl the
    user placed in the weights folder. Never downloads (that is `download_weights`, after licence acceptance)."""
    manifest = manifest or load_manifest()
    entry = next(e for e in manifest.files if e.licensed == "smpl")
    files = WeightFiles(Path(settings.weights_dir))
    if settings.smpl_path is None and not files.smpl_neutral.is_file() and not files.smpl_neutral_clean.is_file():
        raise WeightsError(
            f"The SMPL body model is not in {files.smpl_dir}. To provide it: {_how_to_get(entry, settings)}."
        )
    fetcher = _Fetcher(files.root, settings, manifest, no_progress, None, 0.0)
    reasons = _provide_smpl(fetcher, entry, accept_license=False)
    if reasons:
        raise WeightsError(f"The SMPL body model could not be prepared: {reasons[0]}.")
    return files.smpl_neutral_clean


# ----------------------------------------------------------------------------------------------
# download


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
        how = _how_to_get(entry, settings, fetcher.manifest)
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
            if target.is_file() and _size_problem(entry, target.stat().st_size) is None:
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


# ----------------------------------------------------------------------------------------------
# random weights


def _random_smpl_body(seed: int) -> dict[str, Any]:
    """A toy SMPL-format body with the released key layout, shapes and dtypes; NOT the licensed SMPL.

    The surface is one closed sphere-topology mesh (like SMPL: 6890 vertices, 13776 faces = 2V-4)
    stretched into a 1.7 m tall capsule, so renders show a blob where the person is.
    """
    from lart_demo.models.smpl import SMPL_PARENTS

    rng = np.random.default_rng(seed)
    segments, rings = 56, 124  # 56 * 123 ring vertices + 2 poles = 6890
    theta = np.linspace(0.0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    tt, pp = np.meshgrid(theta, phi, indexing="ij")
    unit = np.stack([np.sin(tt) * np.cos(pp), np.cos(tt), np.sin(tt) * np.sin(pp)], axis=-1).reshape(-1, 3)
    unit = np.concatenate([[[0.0, 1.0, 0.0]], unit, [[0.0, -1.0, 0.0]]])
    verts = unit * np.array([0.22, 0.85, 0.14]) + rng.normal(0.0, 0.002, size=unit.shape)
    # vertex index of ring r (0 = next to the top pole), segment s
    col = np.arange(segments)
    idx = 1 + np.arange(rings - 1)[:, None] * segments + col[None, :]
    nxt = np.roll(idx, -1, axis=1)
    bottom = len(unit) - 1
    caps = [
        np.stack([np.zeros(segments, np.int64), nxt[0], idx[0]], axis=1),
        np.stack([np.full(segments, bottom), idx[-1], nxt[-1]], axis=1),
    ]
    a, b, c, d = idx[:-1], nxt[:-1], idx[1:], nxt[1:]
    quads = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    f = np.concatenate([caps[0], quads, caps[1]]).astype(np.uint32)
    num_joints = len(SMPL_PARENTS) + 1
    # joints spread along the capsule's height, so skinning weights and the regressor are local
    joints = np.stack(
        [rng.uniform(-0.15, 0.15, num_joints), np.linspace(-0.8, 0.8, num_joints), np.zeros(num_joints)], axis=1
    )
    dist = np.linalg.norm(verts[:, None, :] - joints[None, :, :], axis=-1)
    weights = np.exp(-((dist / 0.12) ** 2))
    weights /= weights.sum(axis=1, keepdims=True)
    near = np.exp(-((dist.T / 0.08) ** 2))
    j_regressor = near / near.sum(axis=1, keepdims=True)
    kintree = np.stack([np.array((2**32 - 1, *SMPL_PARENTS)), np.arange(num_joints)]).astype(np.int64)
    from scipy.spatial import cKDTree

    _, sym = cKDTree(verts).query(verts * np.array([-1.0, 1.0, 1.0]))  # nearest vertex after mirroring in x
    return {
        "v_template": verts,
        "shapedirs": rng.normal(0.0, 0.01, size=(len(verts), 3, 10)),
        "posedirs": rng.normal(0.0, 0.001, size=(len(verts), 3, 9 * (num_joints - 1))),
        "J_regressor": j_regressor,
        "J_regressor_prior": j_regressor.copy(),
        "J": j_regressor @ verts,
        "weights": weights,
        "weights_prior": weights.copy(),
        "kintree_table": kintree,
        "f": f,
        "vert_sym_idxs": sym.astype(np.int64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "pose_training_info": {"random": True, "seed": seed},
    }


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_random_body_files(files: WeightFiles, seed: int) -> list[Path]:
    """SMPL (original pickle + clean copy), its extra-joint regressor, mean params and UV layout."""
    body = _random_smpl_body(seed)
    _atomic_write_bytes(files.smpl_neutral, pickle.dumps(body, protocol=2))
    convert_smpl(files.smpl_neutral, files.smpl_neutral_clean)
    rng = np.random.default_rng(seed + 1)
    verts = body["v_template"]
    j19 = np.exp(-(rng.normal(0.0, 0.05, (19, 1)) + np.abs(verts[None, :, 1] - rng.uniform(-0.8, 0.8, (19, 1)))))
    j19 = j19**32
    j19 /= j19.sum(axis=1, keepdims=True)
    _atomic_write_bytes(files.smpl_to_j19, pickle.dumps(j19, protocol=2))
    identity_6d = np.tile([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 24)
    buf = _npz_bytes(
        pose=identity_6d + rng.normal(0.0, 0.02, 144),
        shape=rng.normal(0.0, 0.1, 10),
        cam=np.array([0.9, 0.0, 0.0]),
    )
    _atomic_write_bytes(files.smpl_mean_params, buf)
    uv = np.stack([(np.arctan2(verts[:, 2], verts[:, 0]) / (2 * np.pi)) % 1.0, (verts[:, 1] + 0.85) / 1.7], axis=1)
    _atomic_write_bytes(files.texture, _npz_bytes(smpl_faces=body["f"].astype(np.int64), vt=uv, ft=body["f"]))
    return [files.smpl_neutral, files.smpl_neutral_clean, files.smpl_to_j19, files.smpl_mean_params, files.texture]


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _random_writer(name: str) -> Callable[..., list[Path]]:
    module_name = f"lart_demo.models.{name}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WeightsError(f"Cannot make random weights: {module_name} could not be imported ({exc}).") from exc
    writer = getattr(module, "write_random_weights", None)
    if writer is None:
        raise WeightsError(f"Cannot make random weights: {module_name} has no write_random_weights().")
    return writer


def make_random_weights(weights_dir: Path, profile: str = "tiny", seed: int = 0) -> list[Path]:
    """Write a complete weights folder with random weights in the released formats, plus the marker.

    Body-model files come from here; each model module's `write_random_weights(weights_dir, profile,
    seed)` writes its own config + checkpoint. Every manifest file must exist afterwards.
    """
    if profile not in ("tiny", "full"):
        raise WeightsError(f"Unknown random-weights profile {profile!r}: use 'tiny' or 'full'.")
    weights_dir = Path(weights_dir)
    files = WeightFiles(weights_dir)
    manifest = load_manifest()
    if not files.is_random():
        real = [e.path for e in manifest.files if e.target(weights_dir).exists()]
        if real or files.smpl_neutral_clean.exists():
            raise WeightsError(
                f"{weights_dir} already holds weight files ({', '.join(real[:3]) or 'SMPL'}) and no random-weights "
                "marker; refusing to overwrite them. Choose an empty folder for random weights."
            )
    writers = [_random_writer(name) for name in RANDOM_WEIGHT_WRITERS]  # all of them, before writing anything
    weights_dir.mkdir(parents=True, exist_ok=True)
    written = _write_random_body_files(files, seed)
    for writer in writers:
        written.extend(Path(p) for p in writer(weights_dir, profile=profile, seed=seed))
    marker = {"banner": RANDOM_BANNER, "profile": profile, "seed": seed}
    _atomic_write_bytes(files.random_marker, (json.dumps(marker, indent=2) + "\n").encode())
    written.append(files.random_marker)
    lacking = [e.path for e in manifest.files if e.licensed is None and not e.target(weights_dir).is_file()]
    if lacking:
        raise WeightsError(
            "make-random finished but these files were written by no model module: " + ", ".join(lacking)
        )
    return written


def random_weights_info(weights_dir: Path) -> dict[str, Any] | None:
    """The marker's content when `weights_dir` holds random weights, else None."""
    marker = WeightFiles(Path(weights_dir)).random_marker
    if not marker.exists():
        return None
    try:
        info = json.loads(marker.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError:
        info = {}
    info.setdefault("banner", RANDOM_BANNER)
    return info


# ----------------------------------------------------------------------------------------------
# mirror to a Hub repo the user controls


@dataclass(frozen=True)
class MirrorItem:
    path_in_repo: str
    local_path: Path
    size: int
    sha256: str
    commit: str | None  # the Hub commit that added it; the last one is the revision to pin


def plan_mirror(manifest: Manifest) -> tuple[list[ManifestFile], list[ManifestFile]]:
    """(files to copy, files never copied). Licensed files (SMPL) are never mirrored."""
    copy = [e for e in manifest.files if e.licensed is None]
    skip = [e for e in manifest.files if e.licensed is not None]
    return copy, skip


def _hf_uploader(token: str | None) -> Callable[[str], Uploader]:
    def for_repo(repo_id: str) -> Uploader:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", exist_ok=True)

        def upload(local: Path, path_in_repo: str, repo: str) -> str | None:
            info = api.upload_file(
                path_or_fileobj=str(local), path_in_repo=path_in_repo, repo_id=repo, repo_type="model"
            )
            return getattr(info, "oid", None)

        return upload

    return for_repo


def mirror_weights(
    to_repo: str,
    token: str | None,
    *,
    settings: Settings | None = None,
    manifest: Manifest | None = None,
    uploader: Uploader | None = None,
    progress: ProgressFn = no_progress,
) -> list[MirrorItem]:
    """Download every non-licensed file from its ORIGIN (never from the Hub) and upload it to `to_repo`.

    Returns what was uploaded with sizes and sha256, to pin in the manifest. Refuses random weights.
    """
    settings = settings or settings_from_env()
    manifest = manifest or load_manifest()
    if not to_repo or "/" not in to_repo:
        raise WeightsError(f"--to needs a Hub repo id like 'user/lart-demo-weights', not {to_repo!r}.")
    weights_dir = Path(settings.weights_dir)
    if WeightFiles(weights_dir).is_random():
        raise WeightsError(f"{weights_dir} holds random weights; refusing to mirror them to {to_repo}.")
    copy, _skip = plan_mirror(manifest)
    origin_only = settings.with_overrides(hf_repo="")  # empty repo: the Hub is skipped
    download_weights(origin_only, progress=progress, manifest=manifest, only=[e.id for e in copy], hub_download=None)
    upload = uploader or _hf_uploader(token)(to_repo)
    items = []
    for entry in copy:
        local = entry.target(weights_dir)
        verify_file(local, entry)
        size, digest = local.stat().st_size, sha256_of(local)
        commit = upload(local, entry.path, to_repo)
        items.append(MirrorItem(entry.path, local, size, digest, commit))
    return items


def pin_manifest(items: Sequence[MirrorItem], path: Path | None = None) -> Path:
    """Record the mirrored files' sizes and sha256 in the manifest, so later downloads verify them."""
    path = MANIFEST_PATH if path is None else Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    by_path = {item.path_in_repo: item for item in items}
    for entry in data["files"]:
        item = by_path.get(entry["path"])
        if item is not None:
            prefix = entry.get("sha256_prefix")
            if prefix and not item.sha256.startswith(prefix):
                raise WeightsError(f"{item.path_in_repo}: sha256 {item.sha256[:16]}... does not start with {prefix}.")
            entry["size"], entry["sha256"] = item.size, item.sha256
    _atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return path


# ----------------------------------------------------------------------------------------------
# CLI: python -m lart_demo weights {status,download,make-random,mirror}


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _print_status(statuses: list[FileStatus], settings: Settings) -> int:
    root = Path(settings.weights_dir)
    info = random_weights_info(root)
    print(f"weights folder: {root.resolve()}" + (f"  [{info['banner']}]" if info else ""))
    for st in statuses:
        mark = "ok     " if st.present else "MISSING"
        rel = os.path.relpath(st.path, root)
        print(f"  {mark} {rel:<55} {_human(st.size):>9}  {','.join(st.required_for):<28} {st.detail}")
        if not st.present and st.how_to_get:
            print(f"          -> {st.how_to_get}")
    missing = sum(not st.present for st in statuses)
    print(f"{len(statuses) - missing} of {len(statuses)} files ready" + (f"; {missing} missing" if missing else ""))
    return 0 if missing == 0 else 1


class _TqdmProgress:
    """One progress bar at a time for the CLI (the previous file's bar closes when the next starts)."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.bar: Any = None

    def __call__(self, label: str, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None or label != self.label or (total is not None and self.bar.total != total):
            self.close()
            self.label = label
            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=label[-40:], file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lart_demo weights",
        description="Manage the weights folder (default ./weights, or LART_DEMO_WEIGHTS).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser(
        "status",
        help="list which files are present or missing and where each goes",
        description="List every weight file, whether it is present, which stages need it, and how to get it. "
        "Exit code 1 when something is missing.",
    )
    download = sub.add_parser(
        "download",
        help="download missing files (Hub mirror first, then origin hosts)",
        description="Download every missing file: first from the Hugging Face repo LART_DEMO_HF_REPO at "
        "LART_DEMO_HF_REVISION, then from the original hosts. Downloads resume, are verified, and appear under "
        "their final name only when complete. SMPL is licensed: give your copy with --smpl-path, or accept its "
        "licence with --accept-smpl-license to download it.",
    )
    download.add_argument(
        "--accept-smpl-license",
        action="store_true",
        default=None,
        help=f"you accept the SMPL Model License ({SMPL_LICENSE_URL}); allows downloading SMPL",
    )
    download.add_argument(
        "--smpl-path",
        type=Path,
        default=None,
        help="your SMPL neutral model (basicModel_neutral_lbs_10_207_0_v1.0.0.pkl)",
    )
    download.add_argument(
        "--only", nargs="+", default=None, metavar="ID", help="only these files (manifest ids or paths)"
    )
    random_ = sub.add_parser(
        "make-random",
        help="write random weights in the released formats (for tests/CPU demos)",
        description=f"Write a complete weights folder with RANDOM weights in the released file formats, so the "
        f"whole pipeline runs without downloads. Every output then says '{RANDOM_BANNER}'.",
    )
    random_.add_argument("dir", type=Path, help="folder to write (must be empty or already random)")
    random_.add_argument(
        "--profile",
        choices=("tiny", "full"),
        default="tiny",
        help="tiny: small models that run on CPU in seconds; full: released sizes",
    )
    random_.add_argument("--seed", type=int, default=0)
    mirror = sub.add_parser(
        "mirror",
        help="copy every origin file to a Hugging Face repo you control",
        description="Download every file from its original host and upload it to a Hub model repo you control, "
        "so the app never depends on university web servers. SMPL is never mirrored (its licence forbids it).",
    )
    mirror.add_argument("--to", required=True, metavar="HF_REPO", help="target repo id, e.g. you/lart-demo-weights")
    mirror.add_argument("--token", default=None, help="Hub token with write access (default: HF_TOKEN / hf auth login)")
    mirror.add_argument(
        "--pin-manifest", action="store_true", help="write the files' sizes and sha256 into weights/manifest.json"
    )
    for p in (status, download, mirror):
        p.add_argument("--weights", type=Path, default=None, help="weights folder (overrides LART_DEMO_WEIGHTS)")
    return parser


def weights_cli(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Run a weights subcommand; prints a one-line error (no traceback) and returns 1 on failure."""
    args = _parser().parse_args(argv)
    try:
        settings = settings or settings_from_env()
        if getattr(args, "weights", None) is not None:
            settings = settings.with_overrides(weights_dir=args.weights)
        if args.command == "status":
            return _print_status(weights_status(settings), settings)
        if args.command == "download":
            settings = settings.with_overrides(accept_smpl_license=args.accept_smpl_license, smpl_path=args.smpl_path)
            bars = _TqdmProgress()
            try:
                statuses = download_weights(settings, progress=bars, only=args.only)
            finally:
                bars.close()
            _print_status(statuses, settings)
            return 0
        if args.command == "make-random":
            written = make_random_weights(args.dir, profile=args.profile, seed=args.seed)
            print(f"wrote {len(written)} files to {args.dir} ({RANDOM_BANNER})")
            return 0
        if args.command == "mirror":
            bars = _TqdmProgress()
            try:
                items = mirror_weights(args.to, args.token, settings=settings, progress=bars)
            finally:
                bars.close()
            for item in items:
                print(f"  {item.path_in_repo}  size {item.size}  sha256 {item.sha256}")
            if args.pin_manifest:
                print(f"sizes and sha256 written to {pin_manifest(items)}")
            revision = next((i.commit for i in reversed(items) if i.commit), None) or "<the latest commit sha>"
            print(
                f"mirrored {len(items)} files to {args.to} (SMPL is never mirrored); use them with "
                f"LART_DEMO_HF_REPO={args.to} LART_DEMO_HF_REVISION={revision}"
            )
            return 0
    except LartDemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; partial downloads resume on the next run", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a known command
