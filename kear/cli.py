"""The ``kear`` command: one console script, one subcommand per job, each a thin layer over one library call.

Settings come from a YAML file (``--config``) and ``key=value`` overrides; unknown keys are errors. Bad input
is reported as one line naming the file and line, with a non-zero exit status, never as a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from retrieval.errors import ErrorPolicy, KearError

from . import __version__

logger = logging.getLogger("kear")


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress


def cmd_index(args: argparse.Namespace) -> int:
    from retrieval import ingest_conceptnet, ingest_wiktionary, ingest_wordnet

    policy = ErrorPolicy(skip_invalid=args.skip_invalid)
    output = args.output or Path("indexes") / args.kind
    if args.dump is None and args.kind != "wordnet":
        raise KearError(f"'kear index {args.kind}' needs the dump to read")
    if args.kind == "conceptnet":
        report = ingest_conceptnet(args.dump, output, policy=policy, progress=_progress(args))
        logger.info(
            "wrote %s: %d edges, %d concepts, %d rows read (%d English, %d skipped) in %.1f s",
            output,
            report.edges,
            report.concepts,
            report.rows,
            report.english_rows,
            report.skipped_rows,
            report.seconds,
        )
    elif args.kind == "wiktionary":
        meta = ingest_wiktionary(args.dump, output, policy=policy, progress=_progress(args))
        logger.info("wrote %s: %d entries, %d headwords", output, meta["entries"], meta["headwords"])
    else:
        meta = ingest_wordnet(args.dump or "/usr/share/wordnet", output, progress=_progress(args))
        logger.info("wrote %s: %d entries, %d headwords", output, meta["entries"], meta["headwords"])
    return 0


def cmd_retrieve(args: argparse.Namespace) -> int:
    from retrieval import RetrievalConfig, load_settings, retrieve_file

    config = load_settings(RetrievalConfig, args.config, args.overrides)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()] if args.sources else None
    policy = ErrorPolicy(skip_invalid=args.skip_invalid)
    report = retrieve_file(
        args.input, args.output, config, sources, split=args.split, policy=policy, progress=_progress(args)
    )
    found = ", ".join(f"{name} {count}" for name, count in sorted(report.found.items())) or "nothing"
    logger.info("wrote %s: %d records, %d choices; found %s", args.output, report.records, report.choices, found)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    result = run_demo(args.workdir, progress=_progress(args))
    sys.stdout.write(result.table + "\n")
    logger.info("demo files are in %s", result.workdir)
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kear", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kear {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="build a knowledge index from a dump")
    index.add_argument("kind", choices=["conceptnet", "wiktionary", "wordnet"], help="what the dump is")
    index.add_argument(
        "dump",
        nargs="?",
        help="conceptnet-assertions-5.7.0.csv[.gz], kaikki.jsonl[.gz], or a WordNet folder (default: Debian's)",
    )
    index.add_argument("--output", type=Path, help="index folder to write (default indexes/KIND)")
    index.add_argument("--skip-invalid", action="store_true", help="skip and count malformed lines instead of stopping")
    _add_common(index)
    index.set_defaults(func=cmd_index)

    retrieve = commands.add_parser("retrieve", help="add knowledge fields to records")
    retrieve.add_argument("--config", type=Path, help="retrieval settings (YAML), e.g. configs/retrieval/csqa.yaml")
    retrieve.add_argument(
        "--input", required=True, help="records: JSONL/JSON file, Parquet, dataset folder, Hub id or -"
    )
    retrieve.add_argument("--output", required=True, help="JSONL file to write, or - for stdout")
    retrieve.add_argument("--sources", help="comma-separated sources to run: kg,dict,train (default: the config's)")
    retrieve.add_argument("--split", help="split to read from a dataset folder or Hub id (default validation)")
    retrieve.add_argument(
        "--skip-invalid", action="store_true", help="skip and count invalid records instead of stopping"
    )
    retrieve.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings overrides, e.g. train.top_k=3")
    _add_common(retrieve)
    retrieve.set_defaults(func=cmd_retrieve)

    demo = commands.add_parser("demo", help="run the whole job offline on the bundled sample")
    demo.add_argument("--workdir", type=Path, help="folder for the demo's files (default: a new temporary folder)")
    _add_common(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def _handled(run: Callable[[], int]) -> int:
    try:
        return run()
    except KearError as error:
        sys.stderr.write(f"kear: error: {error}\n")
        return 1
    except FileNotFoundError as error:
        sys.stderr.write(f"kear: error: {error.filename}: no such file or folder\n")
        return 1
    except OSError as error:
        sys.stderr.write(f"kear: error: {error.filename or ''}: {error.strerror or error}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("kear: interrupted\n")
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kear`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in ("kear", "retrieval"):  # our own progress; other libraries stay at their defaults
        logging.getLogger(name).setLevel(logging.WARNING if args.quiet else logging.INFO)
    return _handled(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
