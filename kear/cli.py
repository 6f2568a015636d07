"""The ``kear`` command: one console script, one subcommand per job, each a thin layer over one library call.

Settings come from a YAML file or a recipe kear ships, by name (``--config train/tiny``; ``kear recipe list``), and
``key=value`` overrides; unknown keys are errors; ``--print-config`` shows them all, resolved. Bad input is reported
as one line naming the file and line, with a non-zero exit status, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from retrieval.errors import ErrorPolicy, KearError

from . import __version__

logger = logging.getLogger("kear")


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _whole(text, 1)


def non_negative(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _whole(text, 0)


def _progress(args: argparse.Namespace) -> bool:
    """Whether to show progress bars: not with --no-progress, nor with -q (which says only what went wrong)."""
    return not (args.no_progress or args.quiet)


def _config(args: argparse.Namespace) -> Path | None:
    """The settings file ``--config`` names: a file path, or a recipe kear ships by its name (a path wins)."""
    if args.config is None:
        return None
    from .recipes import settings_file

    return settings_file(args.config)


def _print_config(settings: Any) -> int:
    """``--print-config``: the settings as YAML, every default included, and nothing run."""
    import yaml

    from retrieval.settings import settings_dict

    sys.stdout.write(yaml.safe_dump(settings_dict(settings), sort_keys=False))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from retrieval import ingest_conceptnet, ingest_wiktionary, ingest_wordnet

    policy = ErrorPolicy(skip_invalid=args.skip_invalid)
    output = args.output or Path("indexes") / args.kind
    from retrieval.examples import ExamplesSource

    kinds = ["conceptnet", "wiktionary", "wordnet", ExamplesSource.name]
    if args.kind not in kinds:
        raise KearError(f"'kear index {args.kind}': no such kind of index; choose from {', '.join(kinds)}")
    if args.config is not None and args.kind != ExamplesSource.name:
        raise KearError(f"--config is for 'kear index {ExamplesSource.name}' (its BM25 settings), not '{args.kind}'")
    if args.kind == ExamplesSource.name:
        return _index_examples(args, output, policy)
    if len(args.dump) > 1:
        raise KearError(f"'kear index {args.kind}' reads one dump, got {len(args.dump)}")
    dump = args.dump[0] if args.dump else None
    if dump is None and args.kind != "wordnet":
        raise KearError(f"'kear index {args.kind}' needs the dump to read")
    if args.kind == "conceptnet":
        report = ingest_conceptnet(dump, output, policy=policy, progress=_progress(args), overwrite=args.overwrite)
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
        meta = ingest_wiktionary(dump, output, policy=policy, progress=_progress(args), overwrite=args.overwrite)
        logger.info("wrote %s: %d entries, %d headwords", output, meta["entries"], meta["headwords"])
    else:
        wordnet = dump or "/usr/share/wordnet"
        meta = ingest_wordnet(wordnet, output, progress=_progress(args), overwrite=args.overwrite)
        logger.info("wrote %s: %d entries, %d headwords", output, meta["entries"], meta["headwords"])
    return 0


def _index_examples(args: argparse.Namespace, output: Path, policy: ErrorPolicy) -> int:
    """``kear index examples FILE...``: the BM25 corpus indexed once, with the settings of ``--config``."""
    from retrieval import RetrievalConfig, index_examples, load_settings

    if not args.dump:
        raise KearError("'kear index examples' needs the training files to index")
    settings = load_settings(RetrievalConfig, _config(args)).examples
    progress = _progress(args)
    meta = index_examples(args.dump, output, settings, policy=policy, progress=progress, overwrite=args.overwrite)
    logger.info("wrote %s: %d documents from %d file(s)", output, meta["documents"], len(args.dump))
    return 0


def cmd_retrieve(args: argparse.Namespace) -> int:
    from retrieval import RetrievalConfig, load_settings, retrieve_file

    config = load_settings(RetrievalConfig, _config(args), args.overrides)
    if args.print_config:
        return _print_config(config)
    sources = None
    if args.sources is not None:  # "" or "kg,,kg" is a slip of the hand, not "all of them"
        sources = [name.strip() for name in args.sources.split(",")]
        if not all(sources) or len(set(sources)) != len(sources):
            raise KearError(f"--sources '{args.sources}': give source names once each, separated by commas")
    policy = ErrorPolicy(skip_invalid=args.skip_invalid)
    report = retrieve_file(
        args.input,
        args.output,
        config,
        sources,
        split=args.split,
        policy=policy,
        progress=_progress(args),
        cluster=_cluster(args),
        overwrite=args.overwrite,
    )
    found = ", ".join(f"{name} {count}" for name, count in sorted(report.found.items())) or "nothing"
    # on a cluster, the workers' caches are theirs: what came from them is not counted here
    where = f"computed {report.computed}, from cache {report.cached}" if args.cluster is None else "on the cluster"
    logger.info(
        "wrote %s: %d records, %d choices in %.1f s; %s; found %s",
        args.output,
        report.records,
        report.choices,
        report.seconds,
        where,
        found,
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from retrieval import load_settings

    from .config import TrainConfig

    config = load_settings(TrainConfig, _config(args), args.overrides)
    if args.print_config:
        return _print_config(config)
    from .training import train  # after the settings: a bad one is said before the heavy imports

    result = train(config, progress=_progress(args), overwrite=args.overwrite)
    best = "n/a" if result.best_accuracy is None else f"{result.best_accuracy:.4f} (epoch {result.best_epoch:g})"
    logger.info(
        "trained %d steps on %d process%s; best dev accuracy %s; model in %s",
        result.global_step,
        result.num_processes,
        "" if result.num_processes == 1 else "es",
        best,
        result.output_dir / "best",
    )
    return 0


def _accuracy_text(value: float | None) -> str:
    """An accuracy as logged: four decimals, or why there is none (``None``: no record had an answer)."""
    return "n/a (no answers)" if value is None else f"{value:.4f}"


def _rules(args: argparse.Namespace) -> Any:
    """The rules ``--majority-relation`` asks for (0: none), or ``None`` for the model's own."""
    if args.majority_relation is None:
        return None
    from .rules import RuleConfig

    return RuleConfig(majority_relation=args.majority_relation or None)


def cmd_ablate(args: argparse.Namespace) -> int:
    import shlex

    from retrieval.settings import load_settings

    from .ablate import StudyConfig, ablate

    study = load_settings(StudyConfig, _config(args), args.overrides)
    if args.print_config:
        return _print_config(study)
    command = shlex.join(["kear", "ablate", *(["--config", str(args.config)] if args.config else []), *args.overrides])
    cells = ablate(study, command, overwrite=args.overwrite)
    logger.info("%d cells finished; report in %s", len(cells), study.report or f"{study.output_dir}/report.md")
    return 0


def _predict_file(
    args: argparse.Namespace, output: str | None, with_knowledge: bool | None, results: Path | str | None = None
) -> int:
    """What ``kear predict`` and ``kear evaluate`` (``with_knowledge`` ``None``) share: records through the model
    into ``output``, and the results into ``results``."""
    from .budget import SegmentSurvival, report_truncation
    from .prediction import predict_file

    if args.log_inputs and output is None:
        raise KearError("--log-inputs adds the encoder's inputs to the prediction lines: give --output too")
    survival = SegmentSurvival() if with_knowledge is None else None  # kear evaluate says what its inputs lost

    report = predict_file(
        args.model,
        args.input,
        output,
        batch_size=args.batch_size,
        with_knowledge=bool(with_knowledge),
        split=args.split,
        policy=ErrorPolicy(skip_invalid=args.skip_invalid),
        retrieval_overrides=args.overrides,
        progress=_progress(args),
        overwrite=args.overwrite,
        rules=_rules(args),
        inference=args.inference,
        cluster=_cluster(args),
        log_inputs=args.log_inputs,
        results=results,
        survival=survival,
    )
    if survival is not None:
        report_truncation(survival, f"evaluation data ({args.input})")
    processes = "1 process" if report.processes == 1 else f"{report.processes} processes"
    accuracy = _accuracy_text(report.accuracy)
    if with_knowledge is None:  # kear evaluate: the accuracy is what it reports; the lines are optional
        written = f" (lines in {output}, {report.resumed} from an earlier run)" if output is not None else ""
        written += f"; results in {report.results}" if report.results is not None else ""
        logger.info("%d records by %s; accuracy %s%s", report.written + report.resumed, processes, accuracy, written)
    else:
        logger.info(
            "%d predictions written (%d from an earlier run) by %s; accuracy %s",
            report.written,
            report.resumed,
            processes,
            accuracy,
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .prediction import results_beside

    return _predict_file(args, args.output, None, args.results or results_beside(args.output))


def cmd_predict(args: argparse.Namespace) -> int:
    return _predict_file(args, args.output, args.with_knowledge)


def cmd_ensemble(args: argparse.Namespace) -> int:
    import tempfile

    from retrieval.outputs import check_output, check_writable

    from .ensemble import ENSEMBLE, check_request, ensemble_files
    from .inference import check_available, inference_config
    from .prediction import predict_file
    from .processes import Processes

    if args.models and not args.input:
        raise KearError("--models needs --input: the records the models predict")
    if args.inference is not None and not args.models:
        raise KearError("--inference is for --models: prediction files are scored already")
    check_available(inference_config(args.inference))
    check_request(args.method, len(args.predictions) + len(args.models), args.dev)  # before any model runs
    if args.output != "-":
        inputs = [*args.predictions, *(args.dev or ()), *args.models, args.input]
        check_output(args.output, inputs, kind=ENSEMBLE, overwrite=args.overwrite)
        check_writable(args.output)
    paths, names = list(args.predictions), {}
    processes = Processes.launched()  # under a launcher, the models' predictions are shared out; the first combines
    with tempfile.TemporaryDirectory(prefix="kear-ensemble-") as folder:
        for number, model in enumerate(args.models):
            paths.append(Path(folder) / f"member-{number}.jsonl")
            names[str(paths[-1])] = model  # reported by the model's name, not the temporary file's
            predict_file(
                model,
                args.input,
                paths[-1],
                batch_size=args.batch_size,
                progress=_progress(args),
                inference=args.inference,
                processes=processes,
            )
        if not processes.main:
            return 0
        report = ensemble_files(paths, args.output, args.method, args.dev, overwrite=args.overwrite)
    for name, value in report.members.items():
        logger.info("member %s: accuracy %s", names.get(name, name), _accuracy_text(value))
    weights = f" with weights {report.weights}" if report.weights else ""
    logger.info("ensemble (%s%s): accuracy %s", args.method, weights, _accuracy_text(report.ensemble))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .hub import push

    where = push(
        args.model_dir,
        args.repo_id,
        dry_run=args.dry_run,
        private=args.private,
        license=args.license,
        language=args.language,
        overwrite=args.overwrite,
        knowledge=args.knowledge,
        knowledge_repo=args.knowledge_repo,
    )
    logger.info("%s %s", "wrote the upload folder" if args.dry_run else "pushed to", where)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from retrieval import load_settings

    from .demo import DemoSettings, run_demo

    settings = load_settings(DemoSettings, None, args.overrides)
    result = run_demo(args.workdir, settings, progress=_progress(args), overwrite=args.overwrite)
    sys.stdout.write(result.table + "\n")
    logger.info("demo files are in %s", result.workdir)
    return 0


def cmd_recipe_list(args: argparse.Namespace) -> int:
    from .recipes import description, recipe_names

    names = recipe_names()
    width = max(map(len, names))
    sys.stdout.write("".join(f"{name:<{width}}  {description(name)}".rstrip() + "\n" for name in names))
    return 0


def cmd_recipe_show(args: argparse.Namespace) -> int:
    from .recipes import recipe_path

    sys.stdout.write(recipe_path(args.name).read_text(encoding="utf-8"))
    return 0


def cmd_recipe_copy(args: argparse.Namespace) -> int:
    from .recipes import copy_recipe

    target = copy_recipe(args.name, args.folder, overwrite=args.overwrite)
    logger.info("wrote %s: edit it, then give it as --config %s", target, target)
    return 0


def cmd_recipe_path(args: argparse.Namespace) -> int:
    from .recipes import recipe_path

    sys.stdout.write(f"{recipe_path(args.name)}\n")
    return 0


def _train_settings_help() -> str:
    """``kear train --help``'s list of setting groups: :class:`kear.config.TrainConfig`'s fields, each with the
    first line of its section's docstring, so that a new group shows up without a word here."""
    import dataclasses
    import typing

    from .config import TrainConfig

    sections = typing.get_type_hints(TrainConfig)
    rows = []
    for group in dataclasses.fields(TrainConfig):
        what = (sections[group.name].__doc__ or "").strip().splitlines()
        rows.append(f"  {group.name:<10} {what[0].rstrip('.') if what else ''}".rstrip())
    return "\n".join(
        [
            "settings, by group (in the --config file, or as overrides: GROUP.KEY=VALUE, e.g. training.epochs=3):",
            *rows,
            "",
            "every setting with its value: kear train --config RECIPE --print-config; what each one means: "
            "docs/training.md",
        ]
    )


def _add_records(parser: argparse.ArgumentParser, what: str, overrides: str, required: bool = True) -> None:
    """Options of the commands that read records: where from, which split, what to do with bad ones.

    Args:
        parser: the command's parser.
        what: the help of ``--input``.
        overrides: the help of the ``KEY=VALUE`` arguments.
        required: whether argparse requires ``--input`` (``False``: the command checks it, for ``--print-config``).
    """
    parser.add_argument("--input", required=required, help=what)
    parser.add_argument("--split", help="split to read from a dataset folder or Hub id (default validation)")
    parser.add_argument(
        "--skip-invalid", action="store_true", help="skip and count invalid records instead of stopping"
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=overrides)


def _command(
    commands: Any, func: Callable[[argparse.Namespace], int], help: str, **settings: Any
) -> argparse.ArgumentParser:
    """A subcommand named as its function (``cmd_train`` is ``kear train``) or as ``name``, which runs it.

    Args:
        commands: the subparsers to add it to.
        func: the function that runs it.
        help: what it does, in a line.
        settings: ``name`` (default: the function's, without ``cmd_``) and the parser's other arguments
            (``epilog_from``, ``formatter_class``).
    """
    name = settings.pop("name", None) or func.__name__.removeprefix("cmd_")
    command = commands.add_parser(name, help=help, **settings)
    command.set_defaults(func=func)
    return command


def _add_print_config(parser: argparse.ArgumentParser, needs: Sequence[str] = ()) -> None:
    """``--print-config``, for the commands that take settings; ``needs``: the options required to run, which it
    does without."""
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings as YAML (the file's, then the overrides, every default included) and run nothing",
    )
    parser.set_defaults(run_needs=list(needs))


def _add_config(parser: argparse.ArgumentParser, what: str, example: str) -> None:
    """``--config``: a settings file, or a recipe kear ships by its name (:mod:`kear.recipes`)."""
    parser.add_argument(
        "--config",
        metavar="FILE_OR_RECIPE",
        help=f"{what}: a YAML file, or a recipe kear ships by name (kear recipe list), e.g. {example}",
    )


def _add_rules(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--majority-relation",
        type=non_negative,
        metavar="N",
        help="KEAR's majority-relation rule: drop the choices the most common ConceptNet relation does not link when "
        "it links N or more (0: no rule; default: the model's rules)",
    )


def _add_inference(parser: argparse.ArgumentParser) -> None:
    """``--inference``: how the model runs (kear.inference), for every command that runs one."""
    from .inference import BACKENDS

    parser.add_argument(
        "--inference",
        choices=list(BACKENDS),
        metavar="BACKEND",
        help="how the model runs: "
        + "; ".join(f"{name}: {what}" for name, what in BACKENDS.items())
        + " (the onnx ones need: pip install 'kear[onnx]')",
    )


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    """``--cluster`` and ``--workers``: run on a Ray cluster (retrieval.cluster), for the commands that can."""
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run on a Ray cluster: local (one started on this machine for the run), auto (the cluster this machine "
        "joined with ray start) or ray://HOST:10001; the output is the same (needs: pip install 'kear[cluster]')",
    )
    parser.add_argument("--workers", type=positive, default=2, help="workers on the cluster (default 2)")


def _cluster(args: argparse.Namespace) -> Any:
    """The cluster the command line asks for, or ``None``."""
    if args.cluster is None:
        if args.workers != 2:
            raise KearError("--workers is for --cluster")
        return None
    from retrieval.cluster import ClusterConfig
    from retrieval.settings import SettingError

    try:
        return ClusterConfig(address=args.cluster, workers=args.workers)
    except SettingError as error:
        raise KearError(f"--cluster: {error}") from None


CONTINUED = "replace an existing output that is not this run's to continue"


def _add_overwrite(parser: Any, what: str = "replace an existing output kear did not write") -> None:
    """``--overwrite``, for every command that writes (retrieval.outputs: what an output may replace)."""
    parser.add_argument("--overwrite", action="store_true", help=f"{what} (never an input)")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line like every other error of kear (the usage is one --help away).

    Args:
        epilog_from: makes the help's epilog when the help is shown: it may import what parsing should not.
        kwargs: argparse's own arguments.
    """

    def __init__(self, *args: Any, epilog_from: Callable[[], str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epilog_from = epilog_from

    def format_help(self) -> str:
        if self.epilog_from is not None:
            self.epilog = self.epilog_from()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of the commands that run (``kear train``, ``kear recipe list``), below ``parser``."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):  # aliases name one parser twice
                found += _leaves(command) or [command]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kear", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kear {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    index = _command(commands, cmd_index, help="build a knowledge index from a dump")
    # the kinds are checked when the command runs: the examples source's name is its own, read from it then
    index.add_argument(
        "kind", metavar="KIND", help="what to index: conceptnet, wiktionary, wordnet (dumps) or examples (BM25 corpora)"
    )
    index.add_argument(
        "dump",
        nargs="*",
        metavar="DUMP",
        help="conceptnet-assertions-5.7.0.csv[.gz], kaikki.jsonl[.gz], a WordNet folder (default: Debian's), or the "
        "training files whose questions BM25 finds (examples)",
    )
    index.add_argument("--output", type=Path, help="index folder to write (default indexes/KIND)")
    _add_config(
        index, "examples: retrieval settings whose examples section gives k1, b, remove_stopwords", "retrieval/csqa"
    )
    index.add_argument("--skip-invalid", action="store_true", help="skip and count malformed lines instead of stopping")
    _add_overwrite(index, "replace a folder that is not an index of this kind, or an index by an empty one")

    retrieve = _command(commands, cmd_retrieve, help="add knowledge fields to records")
    _add_config(retrieve, "retrieval settings", "retrieval/csqa")
    _add_records(
        retrieve,
        "records: JSONL/JSON file, Parquet, dataset folder, Hub id or - (required to run)",
        "settings, e.g. examples.top_k=3",
        required=False,
    )
    retrieve.add_argument("--output", help="JSONL file to write, or - for stdout (required to run)")
    _add_print_config(retrieve, ["--input", "--output"])
    retrieve.add_argument(
        "--sources", help="comma-separated sources to run: conceptnet,dictionary,examples (default: the config's)"
    )
    _add_overwrite(retrieve)
    _add_cluster(retrieve)

    train = _command(
        commands,
        cmd_train,
        help="fine-tune a model (works under accelerate launch)",
        epilog_from=_train_settings_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config(train, "training recipe", "train/tiny")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings overrides, e.g. training.epochs=3")
    _add_print_config(train)
    _add_overwrite(train, "write the run into an output_dir that holds files kear did not write")

    evaluate = _command(commands, cmd_evaluate, help="score records with a trained model; accuracy and predictions")
    evaluate.add_argument("--model", required=True, help="a trained model folder (e.g. runs/x/best) or a Hub id")
    _add_records(
        evaluate, "records with answers, in any format retrieve reads", "retrieval settings, e.g. conceptnet.index=DIR"
    )
    evaluate.add_argument(
        "--output", help="prediction lines (JSONL), continued if this model wrote them from this input; - for stdout"
    )
    evaluate.add_argument(
        "--results",
        metavar="FILE",
        help="the results (JSON): accuracy with its 95%% Wilson interval, the counts, the model, the data's SHA-256, "
        "the split and the settings that change the score. Default: beside --output, its suffix replaced by "
        ".results.json (dev.jsonl: dev.results.json); none without either",
    )
    evaluate.add_argument("--batch-size", type=positive, default=16, help="records per batch")
    _add_log_inputs(evaluate)
    _add_rules(evaluate)
    _add_inference(evaluate)
    _add_overwrite(evaluate, CONTINUED)
    _add_cluster(evaluate)

    predict = _command(commands, cmd_predict, help="predict answers for records, streaming, resumable")
    predict.add_argument("--model", required=True, help="a model folder, a folder from push --dry-run, or a Hub id")
    _add_records(
        predict, "records in any format retrieve reads, or - for stdin", "retrieval settings, e.g. conceptnet.index=DIR"
    )
    predict.add_argument(
        "--output",
        required=True,
        help="prediction lines (JSONL), continued if this model wrote them from this input; - for stdout",
    )
    predict.add_argument("--batch-size", type=positive, default=16, help="records per forward pass")
    _add_rules(predict)
    _add_inference(predict)
    predict.add_argument("--with-knowledge", action="store_true", help="add the knowledge used to each line")
    _add_log_inputs(predict)
    _add_overwrite(predict, CONTINUED)
    _add_cluster(predict)

    ensemble = _command(commands, cmd_ensemble, help="combine prediction files or models")
    ensemble.add_argument("predictions", nargs="*", help="prediction files (JSONL) to combine")
    ensemble.add_argument("--models", nargs="+", default=[], help="models to run on --input and combine")
    ensemble.add_argument("--input", help="records for --models")
    ensemble.add_argument("--method", default="mean-prob", choices=["mean-prob", "mean-logit", "vote", "weighted"])
    ensemble.add_argument(
        "--dev", nargs="+", help="for weighted (required): the members' development predictions, in the same order"
    )
    ensemble.add_argument("--output", required=True, help="ensemble prediction lines to write (JSONL), or - for stdout")
    ensemble.add_argument("--batch-size", type=positive, default=16, help="records per forward pass, for --models")
    _add_inference(ensemble)
    _add_overwrite(ensemble)

    push = _command(commands, cmd_push, help="upload a model folder to the Hub with a model card")
    push.add_argument("model_dir", help="a trained model folder (e.g. runs/x/best)")
    push.add_argument("repo_id", help="the Hub repository, e.g. user/kear-deberta-v3-large")
    push.add_argument("--dry-run", metavar="FOLDER", help="write the folder that would be uploaded, and upload nothing")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--license", help="the card's license, e.g. mit (default: the base model's, when known)")
    push.add_argument("--language", default="en", help="the language of the questions, for the card (default en)")
    push.add_argument(
        "--knowledge",
        choices=("include", "none"),
        default="include",
        help="include (default): the knowledge the model retrieves from (its indexes and examples) goes with it, in "
        "knowledge/, so it predicts on any machine; none: only its retrieval settings go",
    )
    push.add_argument(
        "--knowledge-repo",
        metavar="OWNER/NAME",
        help="publish the knowledge as this Hub dataset repository instead (shared by many models); the model reads "
        "it at the revision uploaded",
    )
    _add_overwrite(push, "replace a --dry-run folder that is not an upload folder kear wrote")

    ablate = _command(commands, cmd_ablate, help="measure what each kind of knowledge buys: conditions x folds")
    _add_config(ablate, "the study", "study/csqa-dev")
    ablate.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings overrides, e.g. data.folds=3")
    _add_print_config(ablate)
    _add_overwrite(ablate, "replace a report kear did not write, and write into an output_dir of other files")

    demo = _command(commands, cmd_demo, help="run the whole job offline on the bundled sample")
    demo.add_argument("--workdir", type=Path, help="folder for the demo's files (default: a new temporary folder)")
    demo.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="demo settings, e.g. epochs=1 seeds=[1,2,3]")
    _add_overwrite(demo, "put the demo's files into a --workdir that holds other files")
    _add_recipe(commands)
    for command in _leaves(parser):
        command.add_argument("--no-progress", action="store_true", help="hide progress bars")
        command.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only; no bars")
    return parser


def _add_recipe(commands: Any) -> None:
    """``kear recipe list|show|copy|path``: the recipes kear ships (:mod:`kear.recipes`)."""
    recipe = commands.add_parser("recipe", help="the recipes kear ships: list, show, copy one to edit, or its path")
    actions = recipe.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    _command(actions, cmd_recipe_list, help="every recipe's name, with its first comment line", name="list")
    named = "a recipe's name, as kear recipe list shows it, e.g. train/tiny"
    show = _command(actions, cmd_recipe_show, help="print a recipe (YAML)", name="show")
    show.add_argument("name", metavar="NAME", help=named)
    copy = _command(actions, cmd_recipe_copy, help="copy a recipe into a folder, to edit it there", name="copy")
    copy.add_argument("name", metavar="NAME", help=named)
    copy.add_argument("folder", metavar="DIR", help="the folder to copy it into, as NAME's last part: tiny.yaml")
    _add_overwrite(copy, "replace a file of that name that is not an unchanged copy kear made")
    path = _command(
        actions,
        cmd_recipe_path,
        help='print the installed file\'s path: accelerate launch --config_file "$(kear recipe path NAME)"',
        name="path",
    )
    path.add_argument("name", metavar="NAME", help=named)


def _add_log_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-inputs",
        action="store_true",
        help="add to each line the text the encoder saw for each choice (inputs: the tokenizer's decoding of the "
        "ids the model got, special tokens included)",
    )


def _missing(args: argparse.Namespace) -> list[str]:
    """The options a command needs to run that argparse does not require (``--print-config`` runs without)."""
    return [option for option in getattr(args, "run_needs", []) if getattr(args, option[2:].replace("-", "_")) is None]


class Terminated(BaseException):
    """SIGTERM (from ``timeout``, a scheduler, a container stop): ended like Ctrl-C, so that clean-up runs."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


MAX_MESSAGE = 600  # an error is one line a person reads: a library's message of every model type it knows is cut


def _say(message: str) -> None:
    message = " ".join(message.split())  # one line, whatever the message held
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    with contextlib.suppress(OSError, ValueError):  # stderr itself closed: nothing more can be said
        sys.stderr.write(f"kear: {message}\n")


def _handled(run: Callable[[], int]) -> int:
    try:
        return run()
    except KearError as error:
        if not getattr(error, "said_elsewhere", False):  # another process of the run says it
            _say(f"error: {error}")
        return 1
    except BrokenPipeError:  # the reader of our output went away (| head): nothing left to say to it
        with contextlib.suppress(OSError, ValueError):
            sys.stdout = None  # type: ignore[assignment]  (no flush at exit into the closed pipe)
        return 1
    except FileNotFoundError as error:
        _say(f"error: {error.filename}: no such file or folder")
        return 1
    except OSError as error:  # a full disk, a read-only folder...: name what failed, if the error says
        where = f"{error.filename}: " if error.filename else ""
        _say(f"error: {where}{error.strerror or error}")
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Terminated:
        _say("terminated")
        return 143


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kear`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "index" and not any(item.startswith("-") for item in extra):
        args.dump += extra  # files after the options (argparse gives a list of positionals only what precedes them)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    missing = [] if getattr(args, "print_config", False) else _missing(args)
    if missing:
        command = next(c for c in _leaves(parser) if c.prog == f"kear {args.command}")
        command.error(f"the following arguments are required: {', '.join(missing)}")
    # the libraries' own bars (loading weights, writing shards) and load reports are noise here: kear shows its own
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:  # imported already (by a caller in the same process): tell it directly
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # our own progress, from the main process only; other libraries stay at their defaults
    quiet = args.quiet or os.environ.get("RANK", "0") != "0"
    for name in ("kear", "retrieval"):
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.INFO)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    return _handled(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
