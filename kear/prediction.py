"""``kear predict``: score records with a trained model, with the knowledge it was trained with.

Records stream through in chunks: knowledge is retrieved for those that lack it (with the retrieval settings
saved in the model), the model scores them, and their prediction lines are appended to the output and flushed
to disk. A run that stops part-way and is started again reads the complete lines already written, checks that
they belong to the same records, and continues after them: no line is lost and none is duplicated.

``kear evaluate`` also writes its results as JSON (:func:`evaluation_results`): the accuracy with its 95% interval,
the counts, what was scored (the model as given, the data's SHA-256) and the settings that change the score.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from tqdm.auto import tqdm

from retrieval import RetrievalConfig, load_settings, read_records
from retrieval.cluster import ChunkWorker, ClusterConfig, cluster_map, worker_class
from retrieval.errors import DataError, ErrorPolicy, KearError
from retrieval.io import dump_json_line
from retrieval.outputs import (
    atomic_writer,
    check_output,
    check_writable,
    output_lock,
    own_record_path,
    temporary_folder,
)
from retrieval.records import Record

from . import __version__
from .budget import SegmentSurvival
from .evaluation import AnswerTally, Prediction, wilson_interval
from .inference import InferenceConfig, check_available, inference_config
from .modeling import KearModel
from .predictor import Predictor
from .processes import Processes
from .rules import RuleConfig

logger = logging.getLogger(__name__)

RESULTS = "results"  # the kind of output (retrieval.outputs) an evaluation's results file is
RESULTS_SUFFIX = ".results.json"


def open_predictor(
    model_source: str | Path,
    output: str | Path | None,
    inputs: Sequence[str | Path],
    *,
    lock: contextlib.ExitStack | None = None,
    **settings: Any,
) -> Predictor:
    """A :class:`Predictor` for a model whose predictions go to ``output``, refusing first an output that kear must
    not write.

    In this order: ``output`` may not be one of ``inputs`` (checked before anything is loaded); with ``lock``, the
    output's lock is taken and held in it (a second run writing the same output fails at once, before it loads a
    model); the model is loaded; its retrieval settings are read (bad overrides stop here, before any record is
    read); and ``output`` may not be one of the files those settings read (indexes, corpora, the cache).

    Args:
        model_source: a model folder or a Hub id.
        output: the file the predictions go to; ``-`` (stdout) or ``None`` (no file) are not checked.
        inputs: what the run reads besides the retrieval settings' files: the records, the model.
        lock: where to hold the output's lock until the run ends (a run that appends to its output as it goes).
        settings: the arguments of :meth:`Predictor.from_pretrained` (``retrieval_overrides``, ``inference``...).
    """
    to_file = output is not None and str(output) != "-"
    if to_file:
        check_output(output, inputs)
        if lock is not None:
            lock.enter_context(output_lock(output))
    predictor = Predictor.from_pretrained(model_source, **settings)
    if to_file and predictor.retrieval is not None:
        check_output(output, predictor.retrieval.read_paths())
    return predictor


def prediction_line(prediction: Prediction, record: Record, with_knowledge: bool) -> bytes:
    """A prediction line (:meth:`Prediction.to_dict`), with the knowledge the model was given when asked.

    Args:
        prediction: the record's prediction.
        record: the record, with its knowledge.
        with_knowledge: add the knowledge (``knowledge``: the question's and each choice's).
    """
    out = prediction.to_dict()
    if with_knowledge:
        question = {"question_concept": record.question_concept, **record.knowledge}
        out["knowledge"] = {"question": question, "choices": [c.knowledge for c in record.choices]}
    return dump_json_line(out)


@dataclass
class PredictReport:
    """What a ``kear predict`` run did.

    Args:
        written: prediction lines this run wrote.
        resumed: lines an earlier run wrote, which this one continued after.
        tally: all the lines' predictions with an answer, earlier ones included, for the accuracy.
        processes: how many processes predicted.
        results: the results file written (``None``: none was asked for).
    """

    written: int = 0
    resumed: int = 0
    processes: int = 1
    tally: AnswerTally = field(default_factory=AnswerTally)
    results: Path | None = None

    @property
    def accuracy(self) -> float | None:
        """The accuracy of all the lines in the output (``None`` when no record has an answer)."""
        return self.tally.accuracy


def results_beside(output: str | Path | None) -> Path | None:
    """Where ``kear evaluate --output OUTPUT`` puts its results: OUTPUT with its suffix replaced by
    ``.results.json`` (``dev.seed1.jsonl`` -> ``dev.seed1.results.json``); ``None`` when the lines go to no file.

    Args:
        output: the prediction lines' file (``-``: stdout; ``None``: none).
    """
    if output is None or str(output) == "-" or not Path(output).name:
        return None
    return Path(output).with_suffix(RESULTS_SUFFIX)


def check_results(path: str | Path, output: str | Path | None, inputs: Sequence[str | Path], overwrite: bool) -> None:
    """Refuse, before any work, a results file that the output rule forbids, or that is the predictions' file.

    Args:
        path: the results file (``-``: stdout, not checked).
        output: the prediction lines' file, which the results may not be.
        inputs: what the run reads (the records, the model).
        overwrite: replace a file that kear did not write as results.
    """
    if str(path) == "-":
        if output is not None and str(output) == "-":
            raise KearError("the results and the prediction lines cannot both go to standard output")
        return
    if output is not None and str(output) != "-":
        if Path(path).resolve() == Path(output).resolve():
            raise KearError(f"{path}: is the prediction lines' file too; give the results another file")
        check_output(output, inputs)  # the file the user named first (as the prediction run checks it)
    check_output(path, inputs, kind=RESULTS, overwrite=overwrite)
    check_writable(path)


def data_digest(source: str | Path) -> str | None:
    """The SHA-256 of a records file (of a dataset folder: of its files' paths and digests, in order); ``None``
    for standard input or a Hub id, which are not here to read twice.

    Args:
        source: the records, as given to :func:`predict_file`.
    """
    path = Path(source)
    if str(source) == "-" or not path.exists():
        return None
    if path.is_file():
        return _sha256(path)
    digest = hashlib.sha256()
    for file in sorted(item for item in path.rglob("*") if item.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{_sha256(file)}\n".encode())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def evaluation_results(report: PredictReport, scored: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The results of an evaluation, as ``kear evaluate`` writes them (JSON).

    ``accuracy`` is over the ``answered`` questions (those whose answer the input gives; ``None`` when none
    does), with Wilson's 95% score interval (``interval``); ``questions`` counts every question scored, lines of
    an earlier run that this one continued included.

    Args:
        report: the run's report: its counts and accuracy.
        scored: what was scored: ``model`` (as given), ``input``, ``sha256`` (:func:`data_digest`), ``split``,
            ``skipped`` (invalid lines skipped), ``predictions`` (the lines' file, or ``None``) and
            ``segments_whole`` (per knowledge segment, the share of the choices scored in this run that kept it
            whole; ``None`` when not counted).
        settings: the settings that change the score: ``batch_size``, ``inference`` (the backend), ``rules``
            (those applied), ``retrieval_overrides``.
    """
    tally = report.tally
    interval = wilson_interval(tally.correct, len(tally))
    data = {key: scored.get(key) for key in ("input", "sha256", "split", "skipped")}
    return {
        "accuracy": report.accuracy,
        "interval": None
        if interval is None
        else {"method": "wilson", "level": 0.95, "low": interval[0], "high": interval[1]},
        "questions": report.written + report.resumed,
        "answered": len(tally),
        "correct": tally.correct,
        "model": scored.get("model"),
        "data": data,
        "settings": settings,
        "predictions": scored.get("predictions"),
        "segments_whole": scored.get("segments_whole"),
        "kear_version": __version__,
    }


def write_results(
    path: str | Path, results: dict[str, Any], *, overwrite: bool = False, inputs: Sequence[str | Path] = ()
) -> Path | None:
    """Write an evaluation's results as JSON, atomically, under the output rule (kind ``results``); return the
    file (``None`` for ``-``, stdout).

    Args:
        path: the file, or ``-`` for stdout.
        results: what to write (:func:`evaluation_results`).
        overwrite: replace a file that kear did not write as results.
        inputs: what the run read, which the results may not replace.
    """
    with atomic_writer(path, kind=RESULTS, overwrite=overwrite, inputs=inputs) as handle:
        handle.write(json.dumps(results, indent=2).encode("utf-8") + b"\n")
    return None if str(path) == "-" else Path(path)


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    """Records in lists of ``size``; on a bad record, the ones read before it come first, then the error."""
    chunk: list[Record] = []
    try:
        for record in records:
            chunk.append(record)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except KearError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def model_identity(model: KearModel) -> str:
    """A fingerprint of a model's weights and input settings: a sample of every tensor (its first values), so a
    copy of the model (say, an upload folder) has the same one and another seed or checkpoint another."""
    digest = hashlib.sha1(json.dumps([model.config.inputs, model.config.head], sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().reshape(-1)[:256].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    """Where kear says what wrote a prediction file: which model, from which input, with which settings, and a
    digest of the records predicted so far (the record :mod:`retrieval.outputs` keeps beside every output)."""
    return own_record_path(path)


def record_digest(digest: Any, record: dict[str, Any]) -> None:
    """Add a record, as read (``Record.to_dict()`` before knowledge is retrieved into it), to a running digest."""
    digest.update(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))


class _Output:
    """A prediction file being written: continued, started afresh, or (``overwrite``) replaced when complete.

    * continued: an earlier run of the same model, input and settings left it; its record beside it holds how many
      records it predicted and a digest of them, checked against the input before anything is added;
    * started afresh (a new or empty file): written in place, line by line, its record updated after each chunk,
      so that a killed run continues where it stopped;
    * replaced (``overwrite``, over a file that is not this run's): written beside it and moved into place only
      when complete, so that a failed run leaves the old file as it was (such a run starts over when run again).
    """

    def __init__(self, path: Path, identity: dict[str, Any], overwrite: bool, stack: contextlib.ExitStack) -> None:
        self.path, self.identity, self.stack = path, identity, stack
        self.handle: IO[bytes] | None = None
        self.earlier: list[Prediction] = []
        self.digest = hashlib.sha1()
        self.expected_digest: str | None = None
        self.staging: Path | None = None
        self.cut: int | None = None  # where the lines of an earlier run end, when unrecorded lines follow them
        recorded = self._recorded()
        exists = path.exists() and path.stat().st_size > 0
        if exists and recorded is not None and self._same(recorded):
            self._continue(recorded)
        elif exists and not overwrite:
            if recorded is None:
                why = "kear did not write it"
            elif "kind" in recorded:  # written whole by another command (retrieval.outputs)
                why = f"it is kear's {recorded['kind']}, not predictions"
            else:
                changed = [key for key in identity if recorded.get(key) != identity[key]]
                why = f"it was written with another {' and another '.join(changed)}"
            raise KearError(f"{path}: exists and {why}; give --overwrite to replace it, or another --output")
        elif exists:  # overwrite: the new file is written apart, put in place when complete
            folder = temporary_folder(path)
            stack.callback(shutil.rmtree, folder, True)  # gone whether the run ends well or not
            self.staging = folder / path.name
        if path.exists() and self.staging is None and path.stat().st_nlink > 1:
            raise KearError(f"{path}: has other hard links, which appending would change too; write elsewhere")
        self.count = len(self.earlier)  # records predicted in the file

    def _recorded(self) -> dict | None:
        try:
            recorded = json.loads(_sidecar(self.path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return recorded if isinstance(recorded, dict) else None

    def _same(self, recorded: dict) -> bool:
        return all(recorded.get(key) == value for key, value in self.identity.items())

    def _continue(self, recorded: dict) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        lines = data[:end].splitlines()
        kept = recorded.get("records")
        if not isinstance(kept, int) or not 0 <= kept <= len(lines):
            raise KearError(f"{self.path}: does not match kear's record of it; give --overwrite or another --output")
        # lines past the record were written by a run killed before it could record them: predicted again, cut
        # off only once the earlier lines are checked against the input (a run that stops changes nothing)
        self.cut = sum(len(line) + 1 for line in lines[:kept]) if kept < len(lines) or end < len(data) else None
        for number, line in enumerate(lines[:kept], start=1):
            try:
                self.earlier.append(Prediction.from_dict(orjson.loads(line), self.path, number))
            except (orjson.JSONDecodeError, DataError) as error:
                why = f" ({error.message})" if isinstance(error, DataError) else ""
                raise KearError(f"{self.path}:{number}: not a prediction line{why}; give --overwrite") from None
        self.expected_digest = recorded.get("digest")
        self.handle = self.stack.enter_context(open(self.path, "ab"))  # noqa: SIM115  (closed with the stack)

    def check_earlier(self, records: Iterator[Record]) -> None:
        """Read the input's first records, those the earlier lines predicted: the same ids, the same contents."""
        for number, earlier in enumerate(self.earlier, start=1):
            record = next(records, None)
            if record is None or record.id != earlier.id:
                found = "nothing" if record is None else f"'{record.id}'"
                raise KearError(
                    f"{self.path}:{number}: holds a prediction for '{earlier.id}' but the input has {found} "
                    "there; give --overwrite or another --output"
                )
            record_digest(self.digest, record.to_dict())
        if self.earlier and self.digest.hexdigest() != self.expected_digest:
            raise KearError(
                f"{self.path}: the input's first {len(self.earlier)} records changed since they were predicted; "
                "give --overwrite or another --output"
            )
        if self.cut is not None:
            assert self.handle is not None
            self.handle.truncate(self.cut)

    def write(self, lines: bytes, records: Sequence[dict[str, Any]]) -> None:
        """Add prediction lines, for ``records`` as read."""
        if self.handle is None:
            if self.staging is None:
                # recorded before the file exists: a run killed between its first lines and their record leaves a
                # file that the next run continues (dropping the unrecorded lines), never one it must refuse
                self._record()
            target = self.staging or self.path
            self.handle = self.stack.enter_context(open(target, "wb"))  # noqa: SIM115  (closed with the stack)
        for record in records:
            record_digest(self.digest, record)
        self.handle.write(lines)
        self.handle.flush()
        os.fsync(self.handle.fileno())  # a line on disk is a line kept
        self.count += len(records)
        if self.staging is None:
            self._record()

    def _record(self) -> None:
        """Write the record beside the output (atomically): what wrote it, how many records, their digest."""
        sidecar = _sidecar(self.path)
        state = {**self.identity, "records": self.count, "digest": self.digest.hexdigest()}
        staging = sidecar.with_name(f"{sidecar.name}.tmp")
        staging.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.replace(staging, sidecar)

    def finish(self) -> None:
        """An input without records gets an empty file; a replacement is moved into place."""
        if self.handle is None:
            (self.staging or self.path).write_bytes(b"")
        if self.staging is not None:
            if self.handle is not None:
                self.handle.close()
            os.replace(self.staging, self.path)
        self._record()


def predict_file(
    model_source: str | Path,
    source: str | Path,
    output: str | Path | None,
    *,
    batch_size: int = 16,
    chunk: int = 256,
    with_knowledge: bool = False,
    split: str | None = None,
    policy: ErrorPolicy | None = None,
    retrieval_overrides: Sequence[str] = (),
    progress: bool = True,
    overwrite: bool = False,
    rules: RuleConfig | None = None,
    inference: str | InferenceConfig | None = None,
    processes: Processes | None = None,
    cluster: ClusterConfig | None = None,
    log_inputs: bool = False,
    results: str | Path | None = None,
    survival: SegmentSurvival | None = None,
) -> PredictReport:
    """Predict every record of ``source`` into ``output`` (JSONL; ``-`` for stdin and stdout).

    Under ``accelerate launch`` or ``torchrun`` every process runs this: each retrieves and scores its share of
    every chunk (see :mod:`kear.predictor`) and the first writes the lines, so the output is the file one process
    writes, and a run killed in any process continues from the last chunk written, with any number of processes.

    Args:
        model_source: a model folder (``kear train``'s ``best``, or one ``kear push --dry-run`` wrote) or a Hub id.
        source: records in any format ``kear retrieve`` reads.
        output: prediction lines. An existing file that an interrupted run of the same model wrote from the same
            input (same records) with the same settings is continued; any other existing file is an error (or,
            with ``overwrite``, replaced once the new one is complete). A second run on one output fails at once.
            ``None``: no file (the report still counts the accuracy).
        batch_size: records per forward pass.
        chunk: records read, retrieved and written together.
        with_knowledge: add the knowledge used to each line.
        split: split to read from a dataset folder or Hub id.
        policy: what to do with invalid input lines.
        retrieval_overrides: ``key=value`` changes to the model's retrieval settings (say, where its indexes are).
        progress: show a progress bar.
        overwrite: replace an existing output that is not this run's to continue.
        rules: rules on the scores (:class:`kear.rules.RuleConfig`); default: the model's.
        inference: how the model runs (see :func:`kear.predict_records`); part of what an output is continued with.
        processes: the run's processes (default: those the launcher started, or this one alone).
        cluster: predict on a Ray cluster (:mod:`retrieval.cluster`): this process reads the records and writes the
            lines, a pool of workers, each with the model loaded once, scores the chunks; the output is the same.
        log_inputs: add to each line the text the encoder saw per choice (``inputs``, see :mod:`kear.evaluation`).
        results: a JSON file to write the results to (:func:`evaluation_results`), whole once the run is done, under
            the output rule: checked before the model loads, replaced only if kear wrote it (or with
            ``overwrite``); ``-`` for stdout. ``None``: none.
        survival: counts, for each knowledge segment, the choices of the records predicted here that kept it whole
            (:mod:`kear.budget`; not those a cluster's workers predict).
    """
    inference = inference_config(inference)
    check_available(inference)  # before the output is touched or the model loaded
    # the cluster's workers run the model; here it is loaded only to check the run and to name it in the record
    processes = processes or (Processes() if cluster is not None else Processes.launched())
    if cluster is not None and processes.world > 1:
        raise KearError("a run on a cluster is started once, not under a launcher of several processes")
    if processes.world > 1 and str(source) == "-":
        raise KearError("reading records from standard input needs one process: give --input a file")
    to_stdout, to_file = str(output) == "-", output is not None and str(output) != "-"
    report = PredictReport(processes=processes.world)
    scored: dict[str, Any] = {}  # what the results say was scored, found before the records are read
    with contextlib.ExitStack() as stack:

        def start() -> tuple[Predictor, _Output | None]:
            if results is not None and processes.main:
                check_results(results, output, [source, model_source], overwrite)
                scored.update(model=str(model_source), input=str(source), sha256=data_digest(source), split=split)
            # the output is locked as it is appended to: a second writer of it fails at once, before it loads
            predictor = open_predictor(
                model_source,
                output,
                [source, model_source],
                lock=stack if processes.main else None,
                batch_size=batch_size,
                retrieval_overrides=retrieval_overrides,
                rules=rules,
                inference=inference,
                processes=processes,
            )
            stack.callback(predictor.close)
            if not (to_file and processes.main):
                return predictor, None
            identity = {
                "model": model_identity(predictor.model),
                "input": "<stdin>" if str(source) == "-" else os.path.abspath(source),
                "split": split,
                "retrieval settings": list(retrieval_overrides),
                "knowledge in the lines": with_knowledge,
                **({"inputs in the lines": True} if log_inputs else {}),  # older outputs had no such key
                **({"rules": asdict(predictor.rules)} if predictor.rules.active else {}),  # older outputs had none
                # another backend gives other scores (int8: by its rounding error): one file, one backend (older: torch)
                **({"inference": inference.backend} if inference.backend != "torch" else {}),
            }
            return predictor, _Output(Path(output), identity, overwrite, stack)

        predictor, target = processes.together(start)
        records = read_records(source, split=split, policy=policy)

        def resume() -> int:
            if target is None:
                return 0
            target.check_earlier(records)
            report.tally.add(target.earlier)
            return len(target.earlier)

        report.resumed = processes.exchange(resume)[0]
        if not processes.main:  # the first process read the predicted records while checking them
            for _ in zip(range(report.resumed), records):
                pass
        elif report.resumed:
            logger.info("continuing %s after its %d predictions", output, report.resumed)
        bar = stack.enter_context(
            contextlib.closing(
                tqdm(
                    desc="predicting",
                    unit=" questions",
                    initial=report.resumed,
                    disable=not (progress and processes.main),
                )
            )
        )
        if cluster is None:
            chunks = _here(_chunks(records, chunk), predictor, target is not None, log_inputs, survival)
        else:
            local = Path(model_source).exists()  # the workers may run elsewhere: what is here, by its full path
            worker = worker_class(
                PredictWorker,
                model=str(Path(model_source).resolve()) if local else str(model_source),
                batch_size=batch_size,
                retrieval=None if predictor.retrieval is None else asdict(predictor.retrieval.resolved()),
                rules=asdict(predictor.rules),
                inference=inference.backend,
                with_knowledge=with_knowledge,
                log_inputs=log_inputs,
            )
            chunks = _on_cluster(list(_chunks(records, chunk)), worker, cluster, progress)
        for batch, raw, predictions, lines in chunks:
            if processes.main and (target or to_stdout):
                if lines is None:
                    lines = b"".join(prediction_line(p, r, with_knowledge) for p, r in zip(predictions, batch))
                if target:
                    target.write(lines, raw)
                else:
                    sys.stdout.buffer.write(lines)
                    sys.stdout.buffer.flush()
            report.tally.add(predictions)
            report.written += len(predictions)
            bar.update(len(predictions))
        if target:
            target.finish()
    if policy is not None and processes.main:
        policy.report("input lines")
    if results is not None and processes.main:
        settings = {
            "batch_size": batch_size,
            "inference": inference.backend,
            "rules": asdict(predictor.rules),
            "retrieval_overrides": list(retrieval_overrides),
        }
        scored.update(skipped=policy.skipped if policy else 0, predictions=None if output is None else str(output))
        if survival is not None:
            scored["segments_whole"] = survival.shares()  # the share of choices that kept each segment whole
        reads = [source, model_source, *(predictor.retrieval.read_paths() if predictor.retrieval else [])]
        summary = evaluation_results(report, scored, settings)
        report.results = write_results(results, summary, overwrite=overwrite, inputs=reads)
    return report


class PredictWorker(ChunkWorker):
    """A worker of a prediction on a cluster: a :class:`Predictor` built once, its prediction lines per chunk."""

    def __init__(self) -> None:
        settings = self.settings
        retrieval = settings["retrieval"] and load_settings(RetrievalConfig, values=settings["retrieval"])
        self.predictor = Predictor.from_pretrained(
            settings["model"],
            batch_size=settings["batch_size"],
            retrieval=retrieval,
            rules=RuleConfig(**settings["rules"]),
            inference=settings["inference"],
        )
        self.with_knowledge, self.log_inputs = settings["with_knowledge"], settings["log_inputs"]

    def lines(self, records: list[Record]) -> bytes:
        predictions = self.predictor.predict(records, log_inputs=self.log_inputs)
        return b"".join(prediction_line(p, r, self.with_knowledge) for p, r in zip(predictions, records))


# what each chunk of a run gives: its records, the records as read (for the output's record), their predictions, and
# the lines when they were made elsewhere
Done = tuple[list[Record], list[dict[str, Any]], list[Prediction], bytes | None]


def _here(
    chunks: Iterable[list[Record]],
    predictor: Predictor,
    digest: bool,
    log_inputs: bool,
    survival: SegmentSurvival | None,
) -> Iterator[Done]:
    """Each chunk predicted in this run's processes."""
    for batch in chunks:
        raw = [record.to_dict() for record in batch] if digest else []  # as read, before retrieval adds to them
        yield batch, raw, predictor.predict(batch, log_inputs=log_inputs, survival=survival), None


def _on_cluster(
    chunks: list[list[Record]], worker: type[ChunkWorker], cluster: ClusterConfig, progress: bool
) -> Iterator[Done]:
    """Each chunk predicted on the cluster, with its lines, in input order."""
    for batch, lines in zip(chunks, cluster_map(chunks, worker, cluster, progress=progress)):
        predictions = [Prediction.from_dict(orjson.loads(line)) for line in lines.splitlines()]
        yield batch, [record.to_dict() for record in batch], predictions, lines
