"""The predictor: a trained model with everything it predicts with, built once and used for any number of records.

A :class:`Predictor` holds the model and its tokenizer, the inference backend's prepared copy, the input settings
and rules the model was saved with, and, opened on first need and kept, the knowledge sources that retrieve what
records lack (with the retrieval settings saved in the model). ``kear predict``, ``kear evaluate``,
``kear ensemble --models`` and :func:`predict_records` all predict through one; a file of any length is read,
retrieved and scored chunk by chunk with the same sources, never reopened per chunk.

Under ``accelerate launch`` or ``torchrun`` (:class:`kear.processes.Processes`), each process retrieves its share
of a chunk's records and scores its share of the chunk's batches, the same batches one process would score; the
results are gathered, so every process returns what one process returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from retrieval import RetrievalConfig
from retrieval.bundle import HUB_PREFIX
from retrieval.errors import ConfigError, KearError, first_line
from retrieval.hub import OFFLINE_HINT, hub_unreachable, looks_like_hub_id
from retrieval.pipeline import Annotator
from retrieval.records import Record, as_records
from retrieval.settings import load_settings
from retrieval.source import segments, sources

from .budget import SegmentSurvival
from .evaluation import Prediction, batch_scores, predictions_for, score_order
from .inference import InferenceConfig, inference_config, prepare
from .inputs import InputConfig, encode_records
from .modeling import KearModel, load_model, saved_inputs
from .processes import Processes
from .rules import RuleConfig, apply_rules, saved_rules

logger = logging.getLogger(__name__)


def model_bundle(
    values: dict[str, Any] | None, name_or_path: str, revision: str | None = None
) -> dict[str, Any] | None:
    """Saved retrieval settings with their knowledge bundle found: a bundle saved as a path relative to the model
    (``knowledge``, as ``kear push`` writes it) is looked for in the model's folder, or fetched from the model's Hub
    repository at the model's own revision. Other settings come back as they are.

    Args:
        values: the retrieval settings a model was saved with (``config.json``'s ``retrieval``).
        name_or_path: where the model was loaded from: its folder or Hub id.
        revision: the model's commit on the Hub, when it came from there.

    Raises:
        ConfigError: a bundle the Hub repository does not hold or that cannot be fetched, in one line.
    """
    bundle = (values or {}).get("bundle")
    if not bundle or bundle.startswith(HUB_PREFIX) or Path(bundle).expanduser().is_absolute():
        return values
    if Path(name_or_path).is_dir() or not looks_like_hub_id(name_or_path):
        return {**values, "bundle": str(Path(name_or_path).resolve() / bundle)}
    from huggingface_hub import snapshot_download

    try:
        if hub_unreachable():
            raise KearError(OFFLINE_HINT)
        folder = snapshot_download(name_or_path, revision=revision, allow_patterns=[f"{bundle}/**"])
    except Exception as error:  # offline without the files, not found, refused: one line either way
        raise ConfigError(
            f"{name_or_path}: cannot fetch its knowledge bundle '{bundle}' ({first_line(error)})"
        ) from None
    return {**values, "bundle": str(Path(folder) / bundle)}


def retrieval_config(model: KearModel, overrides: Sequence[str] = ()) -> RetrievalConfig | None:
    """The retrieval settings a model's knowledge came from (with overrides), or ``None`` if it has none. A bundle
    saved with the model is found beside it (see :func:`model_bundle`)."""
    if model.config.retrieval is None and not overrides:
        return None
    name = str(getattr(model, "name_or_path", "") or "")
    values = model_bundle(model.config.retrieval, name, getattr(model.config, "_commit_hash", None))
    try:
        return load_settings(RetrievalConfig, None, overrides, values=values)
    except ConfigError as error:  # say which model's saved settings, when they are the ones at fault
        where = str(error)
        if where.startswith("saved settings") and getattr(model, "name_or_path", None):
            where = f"{model.name_or_path}: {where}"
        raise ConfigError(where) from None


def missing_sources(records: Sequence[Record], inputs: InputConfig, rules: RuleConfig | None = None) -> list[str]:
    """Retrieval sources whose knowledge the inputs (or the rules) use but some records do not carry."""
    declared = segments()
    used = [declared[name] for name in inputs.knowledge]
    missing = {s.source for s in used if not all(s.carried_by(record) for record in records)}
    if rules is not None and rules.lacking(records):
        missing.update(rules.needs())
    return sorted(missing)


def _take_knowledge(record: Record, found: Record) -> None:
    """Give ``record`` the knowledge that ``found`` (the same record, retrieved in another process) carries."""
    record.question_concept = found.question_concept
    record.knowledge = found.knowledge
    for choice, other in zip(record.choices, found.choices):
        choice.knowledge = other.knowledge


class NeededKnowledge:
    """The knowledge a model's inputs and rules read, retrieved for the records that lack it, with sources opened
    on first need and kept for every later call.

    Args:
        inputs: the model's input settings (the segments it reads).
        rules: the rules on its scores (the fields they read), or ``None``.
        retrieval: the retrieval settings to retrieve with (``None``: the model has none, and records must carry
            their knowledge).
        processes: the run's processes, which retrieve a share of the records each (default: this one alone).
    """

    def __init__(
        self,
        inputs: InputConfig,
        rules: RuleConfig | None,
        retrieval: RetrievalConfig | None,
        processes: Processes | None = None,
    ) -> None:
        self.inputs, self.rules, self.retrieval = inputs, rules, retrieval
        self.processes = processes or Processes()
        self._annotators: dict[str, Annotator] = {}

    def annotators(self, names: Sequence[str]) -> list[Annotator]:
        """An annotator per source in ``names``, in the order sources run, each opened on first need and kept."""
        for name in names:
            if name not in self._annotators:
                self._annotators[name] = Annotator(self.retrieval, [name])
        return [self._annotators[name] for name in sources() if name in names]

    def add(self, records: list[Record], progress: bool = False) -> list[Record]:
        """Add the knowledge the inputs and rules use to records that lack it (in place), and return them.

        Raises:
            KearError: knowledge is needed and cannot be retrieved (no settings, an index that is not there, a
                corpus that cannot be read), in one line.
        """
        missing = missing_sources(records, self.inputs, self.rules)
        if not missing:
            return records
        if self.retrieval is None:
            raise KearError(
                f"the records lack knowledge the model uses ({', '.join(missing)}) and the model has no retrieval "
                "settings: add it with 'kear retrieve' first"
            )

        def retrieve(share: list[Record]) -> list[Record]:
            try:
                for annotator in self.annotators(missing):
                    share = list(annotator.annotate(share, progress=progress))
            except KearError as error:
                raise ConfigError(
                    f"the records lack knowledge the model uses ({', '.join(missing)}), and retrieving it failed: "
                    f"{error} (override the model's retrieval settings, e.g. conceptnet.index=DIR, or give records "
                    "with knowledge)"
                ) from None
            return share

        mine = [records[i] for i in self.processes.share(len(records))]
        found = self.processes.exchange(lambda: retrieve(mine))
        for rank, retrieved in enumerate(found):
            if rank != self.processes.rank:  # this process's own records have their knowledge already
                for position, record in zip(range(rank, len(records), self.processes.world), retrieved):
                    _take_knowledge(records[position], record)
        return records

    def close(self) -> None:
        """Close the sources' cache."""
        for annotator in self._annotators.values():
            annotator.close()


class Predictor:
    """A model ready to predict: built once, then called on any number of records.

    Args:
        model: a model from :func:`kear.load_model` (it is used where it is: move it to a GPU first to run there).
        tokenizer: its tokenizer.
        batch_size: records per forward pass.
        retrieval_overrides: ``key=value`` changes to the model's retrieval settings (say, where its indexes are:
            ``["conceptnet.index=indexes/conceptnet"]``).
        rules: rules on the scores (:class:`kear.rules.RuleConfig`); default: the model's.
        inference: how the model runs (:mod:`kear.inference`): ``torch`` (default), ``torch-bf16``,
            ``torch-int8``, ``onnx``, ``onnx-int8`` or an :class:`kear.inference.InferenceConfig`.
        processes: the processes of a launched run (:meth:`kear.processes.Processes.launched`), which share the
            work of each call; default: this process alone.
        retrieval: the retrieval settings to retrieve with, in place of the model's own (and the overrides).

    Raises:
        KearError: a backend that cannot run, or retrieval overrides the settings refuse, in one line (before any
            record is read).

    Example::

        predictor = Predictor.from_pretrained("runs/seed1/best")
        for chunk in chunks:
            for prediction in predictor(chunk):
                print(prediction.id, prediction.prediction)
    """

    def __init__(
        self,
        model: KearModel,
        tokenizer: Any,
        *,
        batch_size: int = 16,
        retrieval_overrides: Sequence[str] = (),
        rules: RuleConfig | None = None,
        inference: str | InferenceConfig | None = None,
        processes: Processes | None = None,
        retrieval: RetrievalConfig | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise KearError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.inference = inference_config(inference)
        self.scorer = prepare(model, self.inference)  # first: a missing dependency or failed export stops here
        self.inputs = saved_inputs(model)
        self.rules = saved_rules(model) if rules is None else rules
        self.retrieval = retrieval if retrieval is not None else retrieval_config(model, retrieval_overrides)
        self.processes = processes or Processes()
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.knowledge = NeededKnowledge(self.inputs, self.rules, self.retrieval, self.processes)

    @classmethod
    def from_pretrained(cls, source: str | Path, *, processes: Processes | None = None, **kwargs: Any) -> Predictor:
        """A predictor for a model folder or Hub id, on this process's device (its GPU where there is one).

        Args:
            source: the model folder (``output_dir/best``, a folder of ``kear push --dry-run``) or a Hub id.
            processes: the run's processes (default: this process alone, on its accelerator if it has one).
            kwargs: the other arguments of :class:`Predictor`.
        """
        processes = processes or Processes.launched()
        model, tokenizer = load_model(source)
        if inference_config(kwargs.get("inference")).backend in ("torch", "torch-bf16"):
            model.to(processes.device)  # the others run on the CPU
        return cls(model, tokenizer, processes=processes, **kwargs)

    def predict(
        self,
        records: Iterable[Record],
        *,
        progress: bool = False,
        log_inputs: bool = False,
        survival: SegmentSurvival | None = None,
    ) -> list[Prediction]:
        """Scores and predictions for records, with the knowledge the model was trained with.

        Records that lack that knowledge get it first, retrieved with the model's retrieval settings and added to
        them in place (as :func:`retrieval.annotate` does); records that carry it are used as they are. Each
        prediction's ``scores`` are the log-softmax of the model's logits, after the rules.

        Args:
            records: the records, with or without knowledge fields.
            progress: show a progress bar while retrieving.
            log_inputs: give each prediction the text the encoder saw per choice (:attr:`Prediction.inputs`: the
                tokenizer's decoding of the ids the model got, special tokens included).
            survival: counts, for each knowledge segment, the choices that kept it whole (:mod:`kear.budget`).
        """
        records = self.knowledge.add(list(as_records(records)), progress)
        examples = list(encode_records(records, self.tokenizer, self.inputs, survival=survival))
        batches = score_order(examples, self.batch_size)
        mine = [batches[i] for i in self.processes.share(len(batches))]
        scores: dict[int, list[float]] = {}
        for part in self.processes.exchange(lambda: batch_scores(self.scorer, examples, mine, self.pad)):
            scores.update(part)
        predictions = predictions_for(examples, [scores[position] for position in range(len(examples))])
        predictions = apply_rules(predictions, records, self.rules)
        if log_inputs:  # decoded from the ids themselves, so truncation and special tokens show as the model had them
            for prediction, example in zip(predictions, examples):
                prediction.inputs = [
                    self.tokenizer.decode(row.tolist(), skip_special_tokens=False) for row in example.input_ids
                ]
        return predictions

    __call__ = predict

    def close(self) -> None:
        """Close the knowledge sources' cache."""
        self.knowledge.close()


def predict_records(
    model: KearModel,
    tokenizer: Any,
    records: Iterable[Record],
    batch_size: int = 16,
    *,
    retrieval_overrides: Sequence[str] = (),
    progress: bool = False,
    rules: RuleConfig | None = None,
    inference: str | InferenceConfig | None = None,
) -> list[Prediction]:
    """Scores and predictions for records, with the knowledge the model was trained with: one call of a
    :class:`Predictor` made for it (make one yourself to predict batch after batch with the same sources).

    Records that lack that knowledge get it first, as ``kear predict`` does: retrieved with the retrieval settings
    saved in the model (changed by ``retrieval_overrides``, e.g. ``["conceptnet.index=indexes/conceptnet"]``) and
    added to the records in place, as :func:`retrieval.annotate` does. When it cannot be retrieved, a
    :class:`KearError` says why in one line: a model never predicts without its knowledge in silence. Records that
    carry it are used as they are. Each prediction's ``scores`` are the log-softmax of the model's logits.

    Args:
        model: a model from :func:`kear.load_model`.
        tokenizer: its tokenizer.
        records: the records, with or without knowledge fields: :class:`retrieval.Record` objects, dicts in any
            layout :func:`retrieval.read_records` reads, or a ``datasets.Dataset``.
        batch_size: records per forward pass.
        retrieval_overrides: ``key=value`` changes to the model's retrieval settings.
        progress: show a progress bar while retrieving.
        rules: rules on the scores (:class:`kear.rules.RuleConfig`); default: the model's.
        inference: how the model runs (:mod:`kear.inference`): ``torch`` (default, fp32), ``torch-bf16``,
            ``torch-int8``, ``onnx`` or ``onnx-int8``, or an :class:`kear.inference.InferenceConfig`. The model
            itself is not changed; the prepared copy (a cast, an export, a quantisation) is made once per model
            and reused.
    """
    predictor = Predictor(
        model,
        tokenizer,
        batch_size=batch_size,
        retrieval_overrides=retrieval_overrides,
        rules=rules,
        inference=inference,
    )
    try:
        return predictor.predict(records, progress=progress)
    finally:
        predictor.close()
