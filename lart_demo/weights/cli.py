"""`python -m lart_demo weights {status,download,import,add-smpl,verify,make-random,mirror}`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lart_demo.config import Settings, settings_from_env
from lart_demo.errors import LartDemoError
from lart_demo.weights.fetch import download_weights
from lart_demo.weights.importer import ImportReport, import_weights
from lart_demo.weights.lock import LOCK_NAME
from lart_demo.weights.mirror import mirror_weights, pin_manifest
from lart_demo.weights.random import RANDOM_BANNER, make_random_weights, random_weights_info
from lart_demo.weights.smpl import add_smpl
from lart_demo.weights.status import (
    AFTER_DOWNLOAD,
    SMPL_LICENSE_URL,
    FileStatus,
    lock_verified_files,
    weights_status,
)

if TYPE_CHECKING:
    from lart_demo.weights.model_check import ModelCheck


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


def _print_import(report: ImportReport, smpl: Path | None, settings: Settings) -> int:
    for relpath, source in report.found:
        print(f"  found   {relpath:<55} <- {source}")
    for relpath in report.already:
        print(f"  present {relpath}")
    for line in report.rejected:
        print(f"  refused {line}")
    missing = list(report.missing)
    if smpl is not None:
        add_smpl(smpl, Path(settings.weights_dir))
        missing = [m for m in missing if not m.startswith("smpl/")]
        print(f"  found   SMPL <- {smpl}")
    for relpath in missing:
        print(f"  MISSING {relpath}")
    print(
        f"{len(report.found)} imported, {len(missing)} still missing" + (f"; {AFTER_DOWNLOAD}" if report.found else "")
    )
    return 0 if not missing else 1


@contextlib.contextmanager
def _show_skipped_keys() -> Iterator[None]:
    """The loaders' one info line per model about keys the forward never reads, shown while verifying."""
    logger = logging.getLogger("lart_demo.models.checkpoint")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  info    %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _print_verify(checks: list[ModelCheck]) -> int:
    for check in checks:
        if check.ok:
            print(f"  ok      {check.name:<15} {check.params / 1e6:9.2f} M params  {check.seconds:6.2f} s")
        else:
            print(f"  FAILED  {check.name:<15} {check.reason}")
    failed = [c.name for c in checks if not c.ok]
    if failed:
        print(f"error: {len(failed)} model(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(checks)} models load and run")
    return 0


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
        help="download missing files (your Hub mirror if set, then utexas, camenduru/4D-Humans, Berkeley)",
        description="Download every missing file from its sources in order: your own Hugging Face mirror "
        "(only when LART_DEMO_HF_REPO is set, at LART_DEMO_HF_REVISION), the utexas hosts, camenduru/4D-Humans "
        "at a pinned revision (HMR2 archive only), the original Berkeley host. Downloads resume, are verified, "
        "recorded in the folder's lock file and appear under their final name only when complete. SMPL is "
        f"licensed and never downloaded: get it from {SMPL_LICENSE_URL} and run `weights add-smpl FILE`.",
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
    import_ = sub.add_parser(
        "import",
        help="take the files from an existing PHALP / 4D-Humans / LART install",
        description="Look for the files where upstream installs keep them (~/.cache/phalp/{3D,weights,ava}, "
        "~/.cache/4DHumans/logs/train/multiruns/hmr2/0, ~/.cache/4DHumans/data, torch hub's checkpoints) or in "
        "the given folders, under our names or upstream's (pose_predictor.pth -> pose_predictor_40006.ckpt, "
        "pose_predictor.yaml -> config_40006.yaml). Each file is verified, then hard-linked or copied in.",
    )
    import_.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="folders to search instead")
    import_.add_argument("--smpl", type=Path, default=None, metavar="FILE", help="also add this SMPL file")
    add_smpl_ = sub.add_parser(
        "add-smpl",
        help="add your own licensed SMPL neutral model",
        description=f"SMPL is licensed: register at {SMPL_LICENSE_URL}, download the neutral model "
        "(basicModel_neutral_lbs_10_207_0_v1.0.0.pkl), then give its path here. It is checked and converted "
        "once to a numpy-only copy in the weights folder; nothing is ever uploaded.",
    )
    add_smpl_.add_argument("file", type=Path)
    verify = sub.add_parser(
        "verify",
        help="build, load and run every model once; one line per model",
        description="Build each model from the weights folder, load its files and run one forward pass on a "
        "synthetic input. Prints ok, parameter count and time per model; exit code 1 with a one-line reason "
        "otherwise. A file that would run code when loaded is refused.",
    )
    verify.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: LART_DEMO_DEVICE / auto)")
    for p in (status, download, mirror, import_, add_smpl_, verify):
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
            bars = _TqdmProgress()
            try:
                statuses = download_weights(settings, progress=bars, only=args.only)
            finally:
                bars.close()
            _print_status(statuses, settings)
            print(AFTER_DOWNLOAD)
            return 0
        if args.command == "import":
            return _print_import(import_weights(settings, args.dirs), args.smpl, settings)
        if args.command == "add-smpl":
            print(f"SMPL checked and converted to {add_smpl(args.file, Path(settings.weights_dir))}")
            return 0
        if args.command == "verify":
            print(f"weights folder: {Path(settings.weights_dir).resolve()}")
            # torch and every model load only for this command: the other weights commands stay light
            from lart_demo.weights.model_check import verify_models

            with _show_skipped_keys():
                checks = verify_models(settings, args.device)
            code = _print_verify(checks)
            if code == 0:
                recorded = lock_verified_files(settings)
                if recorded:
                    print(f"recorded {len(recorded)} file(s) in {LOCK_NAME} (trusted from now on)")
            return code
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
