"""Command line: `python -m lart_demo VIDEO_OR_URL --out DIR` and the helper subcommands.

    python -m lart_demo VIDEO_OR_URL --out DIR [options]   full analysis: tracks, actions, render, exports
    python -m lart_demo probe VIDEO                        what the app would read from a video
    python -m lart_demo people VIDEO --out DIR             per-frame people in 3D (detector + HMR2.0)
    python -m lart_demo track VIDEO --out DIR              identities over time (PHALP) -> tracks.pkl
    python -m lart_demo batch INPUT... --out DIR [--workers N]  many videos, folders, lists; resumable, Ray
    python -m lart_demo weights status|download|import|add-smpl|verify|make-random|mirror
    python -m lart_demo cache status|clear                 the result cache: cap and use / empty it

Errors print one line (what happened, what to do) and exit non-zero; `--verbose` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lart_demo.config import Settings, settings_from_env
from lart_demo.errors import LartDemoError

log = logging.getLogger("lart_demo")

SUBCOMMANDS = ("probe", "people", "track", "batch", "weights", "cache")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", type=Path, default=None, help="weights folder (default: weights/ or $LART_DEMO_WEIGHTS)"
    )
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default=None,
        help="auto (default: fp32 on CPU; bf16 + TF32 for detector, HMR2.0 and MViT on CUDA), fp32 (as upstream) "
        "or bf16; also $LART_DEMO_PRECISION",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log details and show tracebacks")


def _add_clip_options(parser: argparse.ArgumentParser, trim: bool = True) -> None:
    if trim:
        parser.add_argument("--start", type=float, default=None, help="start time in seconds")
        parser.add_argument("--end", type=float, default=None, help="end time in seconds")
    parser.add_argument(
        "--max-duration", type=float, default=None, help="analyse at most this many seconds (default 60)"
    )
    parser.add_argument(
        "--max-side", type=int, default=None, help="downscale so the longer side is at most this (1280)"
    )
    parser.add_argument("--fps", type=float, default=None, help="processing fps (default: the source fps)")


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..1")
    return value


def _analyze_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lart_demo",
        description="Track every person in a video, recover their 3D body (HMR2.0), recognise their actions (LART) and "
        "write a rendered video plus results.json, actions.csv and tracks.pkl. Subcommands: "
        + ", ".join(SUBCOMMANDS)
        + " (run `python -m lart_demo SUBCOMMAND --help`).",
    )
    p.add_argument(
        "source", help="a video file (mp4/mov/m4v/webm/avi/mkv), a folder or zip of frames, or a YouTube link"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_analysis_options(p)
    return p


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    """The options of a full analysis (shared by the single-video command and `batch`)."""
    _add_clip_options(p)
    p.add_argument("--max-people", type=int, default=None, help="render and report at most this many people")
    p.add_argument("--labels-per-person", type=int, default=None, help="action labels drawn over each person (3)")
    p.add_argument("--min-prob", type=float, default=None, help="hide labels below this probability (0..1)")
    p.add_argument("--style", choices=["mesh", "mesh+labels", "side-by-side"], default=None, help="render style")
    p.add_argument("--face-blur", action="store_true", default=None, help="blur faces in the rendered video")
    p.add_argument(
        "--event-threshold",
        type=_unit_interval,
        default=None,
        help="events.csv/json list the segments where an action's probability is at least this (0..1, default 0.5)",
    )
    p.add_argument("--no-render", action="store_true", help="skip the rendered video (results files only)")
    p.add_argument(
        "--boxes",
        type=Path,
        default=None,
        help="JSON file of known person boxes per frame, used instead of the detector",
    )
    _add_common(p)


def _settings(args: argparse.Namespace) -> Settings:
    return settings_from_env(
        weights_dir=getattr(args, "weights", None),
        device=getattr(args, "device", None),
        precision=getattr(args, "precision", None),
        max_duration_s=getattr(args, "max_duration", None),
        max_side=getattr(args, "max_side", None),
        processing_fps=getattr(args, "fps", None),
        max_people=getattr(args, "max_people", None),
        labels_per_person=getattr(args, "labels_per_person", None),
        min_label_prob=getattr(args, "min_prob", None),
        render_style=getattr(args, "style", None),
        face_blur=getattr(args, "face_blur", None),
        boxes_file=getattr(args, "boxes", None),
        event_threshold=getattr(args, "event_threshold", None),
    )


class ProgressPrinter:
    """Progress on stderr: one line rewritten in place on a terminal, one line per change in a log file.

    Repeated reports are dropped: on CPU the MViT stage reports inside each backbone pass (to check cancel)
    with the same count, which would otherwise fill a log with identical lines.
    """

    def __init__(self) -> None:
        self._last: tuple[str, int, int | None] | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if (stage, done, total) == self._last:
            return
        self._last = (stage, done, total)
        stream = sys.stderr
        if not total:
            print(f"{stage}...", file=stream, flush=True)
        elif stream.isatty():
            print(f"\r{stage}: {done}/{total}", end="\n" if done >= total else "", file=stream, flush=True)
        else:
            print(f"{stage}: {done}/{total}", file=stream, flush=True)


def _cmd_analyze(argv: Sequence[str]) -> int:
    args = _analyze_parser().parse_args(argv)
    _setup_logging(args.verbose)
    # imported per command: `--help` and argument errors answer at once, without loading torch and the models
    from lart_demo.pipeline.run import analyze_to_folder

    result_dir = analyze_to_folder(
        args.source,
        args.out,
        _settings(args),
        start_s=args.start,
        end_s=args.end,
        render=not args.no_render,
        progress=ProgressPrinter(),
    )
    print(f"Results written to {result_dir}")
    return 0


def _batch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lart_demo batch",
        description="Analyse many videos: one result folder per input plus batch.csv in --out. Inputs already done "
        "with the same content and options are skipped, so a stopped batch continues when rerun. With --workers N "
        "(needs the batch extra: Ray) N workers each load the models once; --ray-address spreads them over a cluster.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="a video file, a folder (searched recursively for videos) or a .txt list of paths and YouTube links",
    )
    p.add_argument("--out", type=Path, required=True, help="batch folder: result folders, batch.csv")
    p.add_argument("--workers", type=int, default=1, help="parallel workers (1: in this process, no Ray needed)")
    p.add_argument(
        "--ray-address", default=None, help="join this Ray cluster (HEAD:6379, or auto) instead of starting one"
    )
    p.add_argument(
        "--gpus-per-worker", type=float, default=0.0, help="GPUs each Ray worker reserves (0; fractions share a GPU)"
    )
    p.add_argument("--cpus-per-worker", type=int, default=1, help="CPU cores (torch threads) each Ray worker reserves")
    p.add_argument("--retry-failed", action="store_true", help="try inputs that failed before again")
    _add_analysis_options(p)
    return p


def _cmd_batch(argv: Sequence[str]) -> int:
    args = _batch_parser().parse_args(argv)
    _setup_logging(args.verbose)
    # imported per command: `--help` and argument errors answer at once, without loading torch and the models
    from lart_demo.batch.runner import BatchSpec, PoolOptions, run_batch

    spec = BatchSpec.create(args.out, _settings(args), args.start, args.end, render=not args.no_render)
    options = PoolOptions(
        workers=args.workers,
        ray_address=args.ray_address,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        verbose=args.verbose,
    )
    return run_batch(args.inputs, spec, options, retry_failed=args.retry_failed)


def _cmd_probe(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m lart_demo probe", description="Print what the app reads from a video.")
    p.add_argument("video", type=Path)
    p.add_argument("--verbose", "-v", action="store_true")
    args = p.parse_args(argv)
    _setup_logging(args.verbose)
    # imported per command: `--help` and argument errors answer at once, without loading torch and the models
    from lart_demo.video.io import format_probe, probe_video

    print(format_probe(probe_video(args.video)))
    return 0


def _stage_parser(name: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m lart_demo {name}", description=description)
    p.add_argument("video", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_clip_options(p, trim=False)  # these stages read the whole (capped) video
    _add_common(p)
    return p


def _cmd_people(argv: Sequence[str]) -> int:
    args = _stage_parser("people", "Detect people and recover their 3D body (HMR2.0) in every frame.").parse_args(argv)
    _setup_logging(args.verbose)
    # imported per command: `--help` and argument errors answer at once, without loading torch and the models
    from lart_demo.stages.people import run_people

    print(f"Per-frame people written to {run_people(args.video, args.out, _settings(args))}")
    return 0


def _cmd_track(argv: Sequence[str]) -> int:
    args = _stage_parser("track", "Track people over time (PHALP) and write tracks.pkl + tracks.json.").parse_args(argv)
    _setup_logging(args.verbose)
    # imported per command: `--help` and argument errors answer at once, without loading torch and the models
    from lart_demo.stages.tracking.stage import run_track

    print(f"Tracks written to {run_track(args.video, args.out, _settings(args), progress=ProgressPrinter())}")
    return 0


def _cmd_weights(argv: Sequence[str]) -> int:
    # imported per command: `--help` and argument errors answer at once, without loading torch and the models
    from lart_demo.weights.cli import weights_cli

    return weights_cli(list(argv))


def _cmd_cache(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m lart_demo cache",
        description="The result cache in <output dir>/runs (LART_DEMO_OUTPUT_DIR), capped at LART_DEMO_CACHE_GB.",
    )
    p.add_argument("action", choices=["status", "clear"], help="status: cap and current use; clear: empty it")
    p.add_argument("--output-dir", type=Path, default=None, help="output folder (default: outputs/)")
    args = p.parse_args(argv)
    # imported per command: `--help` and argument errors answer at once, without loading torch and the models
    from lart_demo.pipeline.cache_store import RunCache, cache_bytes

    settings = settings_from_env(output_dir=args.output_dir)
    cache = RunCache(settings.output_dir, cache_bytes(settings.cache_gb))
    if args.action == "clear":
        count, freed = cache.clear()
        print(f"Removed {count} cached run(s), {freed / 1e9:.2f} GB.")
    print(cache.status().describe())
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "probe": _cmd_probe,
    "people": _cmd_people,
    "track": _cmd_track,
    "batch": _cmd_batch,
    "weights": _cmd_weights,
    "cache": _cmd_cache,
}


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv or "-v" in argv
    if argv and argv[0] in COMMANDS:
        command, rest = COMMANDS[argv[0]], argv[1:]
    else:
        command, rest = _cmd_analyze, argv
    try:
        return command(rest)
    except LartDemoError as exc:
        log.debug("failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        if verbose:
            raise
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
