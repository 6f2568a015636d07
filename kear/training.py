"""Fine-tuning for multiple choice with accelerate: one process, one GPU or many, the same code.

Run it as ``kear train --config train/<recipe>`` (a recipe kear ships, :mod:`kear.recipes`, or a settings file),
under ``accelerate launch`` with any of the ``accelerate/`` recipes, or under ``torchrun``. Batches are global
(split across processes), so a 2-process run takes the same optimizer steps as a 1-process run. Launched as several
processes on a machine without a GPU, the processes join over gloo on the CPU. A run writes into
``training.output_dir``:

* ``checkpoint/``: the latest state, in safetensors and JSON; a rerun resumes from it. It is a model folder too
  (``kear predict --model OUTPUT/checkpoint``); ``training.save_total_limit`` keeps earlier ones as
  ``checkpoint-<step>/``;
* ``best/``: the model of the best evaluation on the dev set (``kear predict`` and ``kear evaluate`` read it);
  with ``lora.save=both``, its LoRA adapter alone in ``best/adapter/`` (:mod:`kear.adapters`);
* ``metrics.jsonl`` (and the trackers of ``training.report_to``); ``results.json`` at the end.

Before the model loads, the run reads its records and refuses dev records that are the training records. While
it trains, it logs how much of each knowledge segment the token budget keeps (:func:`kear.budget.report_truncation`),
shows the loss in its progress bar, logs each evaluation in one line, and stops early when
``training.early_stopping_patience`` evaluations in a row bring no better dev accuracy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.state import AcceleratorState
from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers
from accelerate.utils import DistributedType, LoggerType, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from retrieval import Record, annotate, read_records
from retrieval.errors import ConfigError, KearError
from retrieval.outputs import check_output, output_lock
from retrieval.settings import read_settings_file, save_settings, settings_dict

from .adapters import ADAPTER, apply_lora, save_adapter
from .budget import SegmentSurvival, report_truncation
from .checkpoint import (
    has_checkpoint,
    iterate_restoring_rng,
    kept_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    remove_staged,
    save_checkpoint,
    staged_folder,
)
from .config import ALL_TRACKERS, TrainConfig
from .evaluation import accuracy_of, choice_scores, predictions_for
from .inference import warn_if_bf16_emulated
from .inputs import ChoiceCollator, Example, LengthGroupedBatchSampler, encode_records
from .modeling import KearModel, framework_versions, from_pretrained, save_model
from .optim import build_optimizer, build_scheduler

logger = logging.getLogger(__name__)

# the folders of output_dir that are replaced whole as the run goes (their insides: checkpoint.py, modeling.py)
CHECKPOINT = "checkpoint"
BEST = "best"
# What the trackers call metrics.jsonl's values. metrics.jsonl and results.json keep their own keys: scripts,
# kear ablate and the model card read them.
TRACKER_TAGS = {
    "loss": "train/loss",
    "learning_rate": "train/learning_rate",
    "epoch": "train/epoch",
    "seconds": "train/seconds",
    "dev_accuracy": "eval/accuracy",
}


@dataclass
class TrainResult:
    """What a run achieved."""

    output_dir: Path
    best_accuracy: float | None = None
    best_epoch: float | None = None  # epochs done when the best model was evaluated (0.5: half an epoch)
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    num_processes: int = 1
    stopped_early: bool = False  # training.early_stopping_patience ended the run before its last step
    dev_records: int | None = None  # the questions each dev accuracy is measured on (the model card names them)


@dataclass
class RunRecords:
    """The records a run trains and evaluates on, as read (knowledge not yet retrieved, tokens not yet counted).

    Args:
        train: the training records.
        dev: the dev records (``None`` without ``data.dev``).
    """

    train: list[Record]
    dev: list[Record] | None


def _read(source: str, split: str, config: TrainConfig, limit: int | None) -> list[Record]:
    """The first ``limit`` records (all, for ``None``) of ``split`` of ``source``."""
    records = read_records(source, split=split, num_choices=config.data.num_choices)
    return list(islice(records, limit) if limit else records)


def read_run_records(config: TrainConfig) -> RunRecords:
    """The training and dev records, each of its own split (``data.train_split``, ``data.dev_split``).

    Args:
        config: the run's settings.

    Raises:
        ConfigError: dev records that are the training records, the same ids and questions (in any order), unless
            ``data.allow_train_as_dev``; ``KearError`` (``DataError``) for records that cannot be read.
    """
    data = config.data
    train = _read(data.train, data.train_split, config, data.max_train_records)
    dev = _read(data.dev, data.dev_split, config, data.max_dev_records) if data.dev else None
    if dev is not None and not data.allow_train_as_dev and _identities(dev) == _identities(train):
        raise ConfigError(
            f"data.dev: its {len(dev)} records are the training records (the same ids and questions as data.train), "
            "and accuracy on what a model trains on says nothing of new questions; give other dev records "
            "(data.dev, data.dev_split), or set data.allow_train_as_dev=true to check that the model fits them"
        )
    return RunRecords(train, dev)


def _identities(records: list[Record]) -> list[tuple[str, str]]:
    """What tells records apart, cheaply: their ids and questions, in an order that does not depend on the file's."""
    return sorted((record.id, record.question) for record in records)


def _same_source(first: str, second: str) -> bool:
    """Whether two sources name the same file, folder or Hub id."""
    one, other = Path(first), Path(second)
    if one.exists() and other.exists():
        return one.resolve() == other.resolve()
    return first == second


def check_data_settings(config: TrainConfig) -> None:
    """Refuse, before anything is read, dev data that is the training data's source and split, and evaluation
    settings without dev data (same records by content are refused once read: :func:`read_run_records`).

    Args:
        config: the run's settings.

    Raises:
        ConfigError: one line naming the settings.
    """
    data, settings = config.data, config.training
    if not data.dev:
        for key in ("eval_steps", "early_stopping_patience"):
            if getattr(settings, key) is not None:
                raise ConfigError(f"training.{key} evaluates on dev records, and data.dev is not set")
        return
    if not data.allow_train_as_dev and data.train_split == data.dev_split and _same_source(data.train, data.dev):
        raise ConfigError(
            f"data.dev: {data.dev} (split '{data.dev_split}') is also data.train's source and split, and accuracy on "
            "what a model trains on says nothing of new questions; set data.train_split and data.dev_split to "
            "different splits, or data.allow_train_as_dev=true"
        )


def encode_examples(
    records: list[Record], config: TrainConfig, tokenizer: Any, progress: bool = True
) -> tuple[list[Example], SegmentSurvival]:
    """``records`` (with knowledge added first when ``data.retrieve`` is set) as token ids, and how much of each
    knowledge segment their inputs kept whole.

    Args:
        records: the records, as read.
        config: the run's settings (``data.retrieve``, ``retrieval``, ``inputs``).
        tokenizer: the encoder's tokenizer.
        progress: show the retrieval's progress bar.
    """
    if config.data.retrieve:
        records = annotate(records, config.retrieval, progress=progress)
    survival = SegmentSurvival()
    return list(encode_records(records, tokenizer, config.inputs, survival=survival)), survival


def _reads_datasets(config: TrainConfig) -> bool:
    """Whether the run reads its records through ``datasets`` (a dataset folder, a Parquet file, a Hub id)."""
    return any(source and not Path(source).is_file() for source in (config.data.train, config.data.dev))


@contextlib.contextmanager
def library_bars(shown: bool, datasets_too: bool = False) -> Iterator[None]:
    """The progress bars of transformers and the Hub libraries (loading weights, writing shards, reading dataset
    folders) hidden while a run that shows none goes, and put back as they were after it.

    Args:
        shown: whether the run shows progress bars (then nothing changes).
        datasets_too: hide those of ``datasets`` as well (imported for this when it is not yet: it costs seconds,
            so only for runs that read through it).
    """
    if shown:
        yield
        return
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as transformers_logging

    switches = [
        (
            transformers_logging.is_progress_bar_enabled(),
            transformers_logging.enable_progress_bar,
            transformers_logging.disable_progress_bar,
        ),
        (not hub_utils.are_progress_bars_disabled(), hub_utils.enable_progress_bars, hub_utils.disable_progress_bars),
    ]
    if datasets_too or "datasets" in sys.modules:
        import datasets

        switches.append(
            (datasets.is_progress_bar_enabled(), datasets.enable_progress_bars, datasets.disable_progress_bars)
        )
    for _, _, off in switches:
        off()
    try:
        yield
    finally:
        for was_on, on, _ in switches:
            if was_on:
                on()


class _Run:
    """State of one training run; split in methods so that each step reads on its own."""

    def __init__(self, config: TrainConfig, progress: bool, trackers: list[str]) -> None:
        self.config, self.progress = config, progress
        settings = config.training
        self.output = Path(settings.output_dir)
        # torchrun and accelerate's multi-GPU launcher start N processes; without a GPU they join over gloo, which
        # accelerate does only when told to use the CPU (otherwise each would run alone, as rank 0 of 1)
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        cpu = launched > 1 and not torch.accelerator.is_available()
        # accelerate keeps one state per process and refuses a second run with another precision; forget it (the
        # distributed set-up, in PartialState, stays) so that train() can be called again from Python
        AcceleratorState._reset_state()
        self.accelerator = Accelerator(
            cpu=cpu,
            mixed_precision=settings.mixed_precision,
            gradient_accumulation_steps=settings.gradient_accumulation_steps,
            dataloader_config=DataLoaderConfiguration(split_batches=True),
            log_with=trackers or None,
            project_dir=str(self.output),
        )
        check_processes(self.accelerator, launched)
        if settings.mixed_precision == "bf16":
            warn_if_bf16_emulated(self.accelerator.device, "training.mixed_precision=bf16")
        if settings.batch_size % self.accelerator.num_processes:
            raise KearError(
                f"training.batch_size {settings.batch_size} must be a multiple of the "
                f"{self.accelerator.num_processes} processes"
            )
        set_seed(settings.seed)
        self.tokenizer = from_pretrained(AutoTokenizer, config.model.name_or_path, "tokenizer")
        self.metrics_path = self.output / "metrics.jsonl"

    @property
    def main(self) -> bool:
        """Whether this process writes what all processes share (logs, best/, results); the others wait."""
        return self.accelerator.is_main_process

    def build(self, records: RunRecords) -> None:
        """Build the model, tokenize the data, and hand model, optimizer, loader and schedule to accelerate.

        Args:
            records: the training and dev records, as read.
        """
        settings = self.config.training
        # the model before the tokens: an encoder that cannot serve (a pickle, too short for max_length) stops the
        # run before knowledge is retrieved and records tokenized (the order changes no random draw)
        model = self.build_model()
        self.encode_data(records)
        loader = self.build_loader()
        self.steps_per_epoch = math.ceil(len(self.sampler) / settings.gradient_accumulation_steps)
        self.total_steps = settings.max_steps or math.ceil(settings.epochs * self.steps_per_epoch)
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        optimizer = build_optimizer(model, settings)
        scheduler = build_scheduler(optimizer, settings, self.total_steps)
        self.model, self.optimizer, self.loader, self.scheduler = self.accelerator.prepare(
            model, optimizer, loader, scheduler
        )

    def build_model(self) -> KearModel:
        """The encoder of ``model.name_or_path`` with its new head (and LoRA adapters, when asked for)."""
        config = self.config
        model = KearModel.from_encoder(
            config.model.name_or_path,
            head=config.model.head,
            head_settings=config.model.head_settings,
            classifier_dropout=config.model.classifier_dropout,
            length_buckets=config.model.length_buckets,
            attention_dropout=config.model.attention_dropout,
            inputs=asdict(config.inputs),
            # the paths it reads made absolute: the model then predicts from any folder of this machine (kear push
            # bundles the knowledge for others)
            retrieval=asdict(config.retrieval.resolved()),
            rules=asdict(config.rules),
        )
        if config.model.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        if config.lora.enabled:
            apply_lora(model, config.lora)
        return model

    def encode_data(self, records: RunRecords) -> None:
        """Tokenize the training and dev records (knowledge retrieved first when ``data.retrieve`` is set), and
        report how much of each knowledge segment their inputs keep."""
        with self.accelerator.main_process_first():  # the others then find retrieved knowledge in the cache
            self.train_examples = self.encode(records.train, "training data")
            self.dev_examples = None if records.dev is None else self.encode(records.dev, "dev data")

    def encode(self, records: list[Record], what: str) -> list[Example]:
        """``records`` as token ids; the share of choices that keep each segment whole is logged as ``what``."""
        examples, survival = encode_examples(records, self.config, self.tokenizer, self.progress and self.main)
        if self.main:
            report_truncation(survival, what)
        return examples

    def build_loader(self) -> DataLoader:
        """The training batches: grouped by length when asked, padded to the longest example of each batch."""
        settings = self.config.training
        self.sampler = LengthGroupedBatchSampler(
            [e.length for e in self.train_examples],
            settings.batch_size,
            seed=settings.seed,
            group_by_length=settings.group_by_length,
        )
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.pad_token_id = pad
        # tensor cores want multiples of 8; a CPU gains nothing from them and would only encode more padding
        on_gpu = self.accelerator.device.type != "cpu"
        multiple = 8 if settings.mixed_precision != "no" and on_gpu else None
        return DataLoader(
            self.train_examples,
            batch_sampler=self.sampler,
            collate_fn=ChoiceCollator(pad, multiple),
            num_workers=settings.num_workers,
        )

    # --------------------------------------------------------------------------------------- checkpoints

    def write_checkpoint(self, state: dict[str, Any]) -> None:
        """Write ``checkpoint/`` with ``state`` (the trainer state), the model (a model folder: config and tokenizer
        too), optimizer, schedule and generators; keep earlier ones as ``training.save_total_limit`` says."""
        limit = self.config.training.save_total_limit
        save_checkpoint(
            self.output / CHECKPOINT,
            state,
            self.accelerator,
            self.model,
            self.optimizer,
            self.scheduler,
            model_files=self.write_model_files,
            # the checkpoint/ of a run started over is another run's: replaced, never kept among this one's
            keep_previous=self.checkpoint_is_ours and limit != 1,
        )
        self.checkpoint_is_ours = True
        if self.main:
            prune_checkpoints(self.output / CHECKPOINT, None if limit is None else limit - 1)

    def write_model_files(self, folder: Path) -> None:
        """Write what a model folder holds besides its weights (config, tokenizer) into ``folder``."""
        model = self.accelerator.unwrap_model(self.model)
        model.config.framework_versions = framework_versions()
        # what save_pretrained records, so that the Auto classes find the model's class as they do in best/
        model.config.architectures = [type(model).__name__]
        model.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    # ------------------------------------------------------------------------------------------ logging

    def log(self, record: dict[str, Any]) -> None:
        """Append ``record`` (with its optimizer ``step``) to ``metrics.jsonl`` and send its numbers to the trackers."""
        if self.main:
            with open(self.metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        values = {TRACKER_TAGS.get(k, k): v for k, v in record.items() if k != "step" and isinstance(v, (int, float))}
        self.accelerator.log(values, step=record["step"])  # the trackers, on the main process only

    def open_logs(self, resumed_step: int) -> None:
        """Start the trackers, and cut ``metrics.jsonl`` back to ``resumed_step`` (the step the run resumes at)."""
        if self.main:
            self.output.mkdir(parents=True, exist_ok=True)
            if self.metrics_path.exists():  # drop what an interrupted run logged after its last checkpoint
                kept = [line for line in self._logged() if line[1] <= resumed_step]
                self.metrics_path.write_text("".join(text + "\n" for text, _ in kept))
        if self.config.training.report_to:
            self.accelerator.init_trackers(self.output.name or "kear", config=flat_settings(asdict(self.config)))

    def _logged(self) -> list[tuple[str, int]]:
        """The lines of ``metrics.jsonl`` and their steps. A torn last line (a run killed as it wrote) is left out;
        any other line that is not one of kear's is an error, since the file is kear's own."""
        lines = self.metrics_path.read_text(encoding="utf-8", errors="replace").splitlines()
        logged = []
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                step = json.loads(text)["step"]
                if not isinstance(step, int):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                if number == len(lines):
                    continue
                raise KearError(f"{self.metrics_path}:{number}: not a line kear logged; move the file away") from None
            logged.append((text, step))
        return logged

    def describe(self, resumed_step: int) -> None:
        """Say at the start how the run is laid out, so that a launch that went wrong shows at once."""
        settings, processes = self.config.training, self.accelerator.num_processes
        logger.info(
            "training on %d process%s (%s): global batch %d = %d per process x %d process%s x %d accumulation "
            "step%s; %d training and %d dev records; %d optimizer steps (%.4g epochs); %s",
            processes,
            "" if processes == 1 else "es",
            self.accelerator.device.type
            if processes == 1
            else f"{self.accelerator.distributed_type.value} on {self.accelerator.device.type}",
            settings.batch_size * settings.gradient_accumulation_steps,
            settings.batch_size // processes,
            processes,
            "" if processes == 1 else "es",
            settings.gradient_accumulation_steps,
            "" if settings.gradient_accumulation_steps == 1 else "s",
            len(self.train_examples),
            len(self.dev_examples or []),
            self.total_steps,
            self.total_steps / self.steps_per_epoch,
            f"resuming from step {resumed_step}" if resumed_step else "starting fresh",
        )

    # ----------------------------------------------------------------------------------------- the loop

    def evaluate(self) -> float | None:
        """The accuracy on the dev set (``None`` without one); the model is left in training mode."""
        if not self.dev_examples:
            return None
        batch = self.config.training.eval_batch_size or self.config.training.batch_size
        scores = choice_scores(self.model, self.dev_examples, batch, self.pad_token_id, self.accelerator)
        self.model.train()
        return accuracy_of(predictions_for(self.dev_examples, scores))

    def save_best(self) -> None:
        """Keep the model as it is now in ``best/``: what ``kear predict`` and ``kear evaluate`` read (with
        ``lora.save=both``, its adapter alone in ``best/adapter/`` too)."""
        if self.main:
            model = self.accelerator.unwrap_model(self.model)
            with staged_folder(self.output / BEST) as staging:
                save_model(model, self.tokenizer, staging)
                if self.config.lora.save == "both":
                    save_adapter(model, staging / ADAPTER)
                save_settings(self.config, staging / "train_config.yaml")
        self.accelerator.wait_for_everyone()

    def run(self) -> TrainResult:
        """Train, epoch by epoch, from where a checkpoint left off (or from the start), until the last step or an
        early stop; see the steps below."""
        state = self.resume()
        self.prepare(state)
        for epoch in range(state["epoch"], self.epochs):
            if state["global_step"] >= self.total_steps or state["stopped_early"]:
                break  # a resumed run that had finished, or stopped early: nothing left to train
            self.train_epoch(epoch, state)
            if not state["stopped_early"]:  # a stop inside the epoch has evaluated and checkpointed already
                self.end_epoch(epoch, state)
        return self.finish(state)

    def resume(self) -> dict[str, Any]:
        """The trainer state to start from: the checkpoint's, restored into model, optimizer and schedule, when
        ``training.resume`` is set and there is one; a fresh state otherwise (and the earlier checkpoints that a
        run started over leaves, removed)."""
        folder = self.output / CHECKPOINT
        # the random generators of the checkpoint are put back only at the first batch (see train_epoch)
        self.rng: dict[str, Any] | None = None
        self.checkpoint_is_ours = self.config.training.resume and has_checkpoint(folder)
        if not self.checkpoint_is_ours:
            if self.main:
                prune_checkpoints(folder, 0)
            return fresh_state()
        state, self.rng = load_checkpoint(folder, self.accelerator, self.model, self.optimizer, self.scheduler)
        logger.info("resuming from %s at step %d", folder, state["global_step"])
        return {**fresh_state(), **state}  # a checkpoint of an older kear lacks the newer keys

    def prepare(self, state: dict[str, Any]) -> None:
        """Announce the run, open its logs (cut back to ``state``'s step) and record its settings, then start the
        progress bar and the clock: whatever the run writes before its first step."""
        self.describe(state["global_step"])
        self.open_logs(state["global_step"])
        if self.main:
            save_settings(self.config, self.output / "train_config.yaml")
        self.bar = tqdm(
            total=self.total_steps,
            initial=state["global_step"],
            desc="training",
            unit=" steps",
            disable=not (self.progress and self.main),
        )
        self.model.train()
        self.running: list[float] = []  # the losses of the batches since the last logged step
        self.pending: list[float] = []  # the losses of the batches of the optimizer step under way
        # the mean loss of each of the last logging_steps optimizer steps: what the progress bar shows
        self.recent: deque[float] = deque(maxlen=self.config.training.logging_steps)
        self.started = time.perf_counter()
        self.epochs_done = state["epoch"] + state["batches_done"] / len(self.sampler)  # as a fraction

    def train_epoch(self, epoch: int, state: dict[str, Any]) -> None:
        """Train on the batches of ``epoch`` (those a resumed run had not done yet), updating ``state``; stop early
        once the run's last optimizer step is taken."""
        skip = state["batches_done"]  # non-zero only in the epoch that a resumed run continues
        loader = self.accelerator.skip_first_batches(self.loader, skip) if skip else self.loader
        # accelerate's loaders hand their own epoch count to the batch sampler when iterated: set both
        loader.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        rng, self.rng = self.rng, None  # a checkpoint's generators are restored once, in the epoch it resumes
        for index, batch in enumerate(iterate_restoring_rng(loader, rng, mid_epoch=bool(skip)), start=skip):
            loss = self.forward_backward(batch)
            self.pending.append(self.accelerator.gather(loss.detach()).mean().item())
            # with gradient accumulation, only some batches end in an optimizer step
            if self.accelerator.sync_gradients and self.count_step(epoch, index, state):
                break

    def forward_backward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of one batch, its gradients, and the optimizer step when accumulation is complete."""
        settings = self.config.training
        with self.accelerator.accumulate(self.model):
            loss = self.model(**batch).loss
            self.accelerator.backward(loss)
            if self.accelerator.sync_gradients and settings.max_grad_norm:
                self.accelerator.clip_grad_norm_(self.model.parameters(), settings.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()
        return loss

    def count_step(self, epoch: int, index: int, state: dict[str, Any]) -> bool:
        """Record an optimizer step taken on batch ``index`` of ``epoch`` in ``state``; log the loss, evaluate and
        checkpoint as the settings ask. Returns whether the run stops here (its last step, or an early stop)."""
        settings = self.config.training
        state["global_step"] += 1
        state.update(epoch=epoch, batches_done=index + 1)
        self.epochs_done = epoch + (index + 1) / len(self.sampler)
        self.show_loss()
        step = state["global_step"]
        if step % settings.logging_steps == 0 or step == self.total_steps:
            self.log_loss(step)
        # the epoch's last step, and the run's, are followed by end_epoch's evaluation and checkpoint: not two
        inside = index + 1 < len(self.sampler) and step < self.total_steps
        if inside and settings.eval_steps and step % settings.eval_steps == 0:
            self.evaluate_and_keep(state)
        # a stop inside the epoch checkpoints there, so that a rerun finds the run over
        if inside and ((settings.save_steps and step % settings.save_steps == 0) or state["stopped_early"]):
            self.write_checkpoint(state)
        return step >= self.total_steps or state["stopped_early"]

    def show_loss(self) -> None:
        """Move the progress bar one step on, showing the mean loss of the last ``logging_steps`` steps."""
        self.recent.append(sum(self.pending) / len(self.pending))
        self.running.extend(self.pending)
        self.pending = []
        self.bar.set_postfix(loss=f"{sum(self.recent) / len(self.recent):.4f}", refresh=False)
        self.bar.update(1)

    def log_loss(self, step: int) -> None:
        """Log the mean loss of the batches since the last logged step, at optimizer step ``step``."""
        self.log(
            {
                "step": step,
                "epoch": round(self.epochs_done, 4),
                "loss": sum(self.running) / len(self.running),
                "learning_rate": self.scheduler.get_last_lr()[0],
                "seconds": round(time.perf_counter() - self.started, 2),
            }
        )
        self.running = []

    def end_epoch(self, epoch: int, state: dict[str, Any]) -> None:
        """Evaluate (see :meth:`evaluate_and_keep`) and checkpoint: a resumed run then starts at the next epoch."""
        self.evaluate_and_keep(state)
        state.update(epoch=epoch + 1, batches_done=0)
        self.write_checkpoint(state)

    def evaluate_and_keep(self, state: dict[str, Any]) -> None:
        """Evaluate on the dev set; keep the model in ``best/`` if it is the best yet (the latest, without a dev
        set); count the evaluations since the best, and stop the run when ``early_stopping_patience`` is reached."""
        accuracy = self.evaluate()
        entry = {"epoch": round(self.epochs_done, 4), "step": state["global_step"], "dev_accuracy": accuracy}
        state["history"].append(entry)
        self.log(entry)
        if accuracy is None:
            self.save_best()  # no dev set: keep the latest model
            return
        if state["best_accuracy"] is None or accuracy > state["best_accuracy"]:
            state.update(best_accuracy=accuracy, best_epoch=entry["epoch"], evaluations_since_best=0)
            self.save_best()
        else:
            state["evaluations_since_best"] += 1
        logger.info(
            "epoch %.2f step %d: dev accuracy %.4f (best %.4f)",
            entry["epoch"],
            entry["step"],
            accuracy,
            state["best_accuracy"],
        )
        patience = self.config.training.early_stopping_patience
        if patience is not None and state["evaluations_since_best"] >= patience:
            state["stopped_early"] = True
            logger.info(
                "stopping early at step %d: %d evaluation%s without a better dev accuracy than %.4f (epoch %.2f); "
                "training.early_stopping_patience is %d",
                entry["step"],
                state["evaluations_since_best"],
                "" if state["evaluations_since_best"] == 1 else "s",
                state["best_accuracy"],
                state["best_epoch"],
                patience,
            )

    def finish(self, state: dict[str, Any]) -> TrainResult:
        """End the progress bar and the trackers, and write what the run achieved to ``results.json`` (and into
        ``best/``, whose model card shows it)."""
        self.bar.close()
        self.accelerator.end_training()
        result = TrainResult(
            self.output,
            state["best_accuracy"],
            state["best_epoch"],
            state["global_step"],
            state["history"],
            self.accelerator.num_processes,
            state["stopped_early"],
            len(getattr(self, "dev_examples", None) or []) or None,
        )
        if self.main:
            summary = json.dumps({k: v for k, v in asdict(result).items() if k != "output_dir"}, indent=2)
            (self.output / "results.json").write_text(summary)
            if (self.output / BEST).is_dir():  # the model folder carries its own results (for its model card)
                (self.output / BEST / "results.json").write_text(summary)
        return result


def fresh_state() -> dict[str, Any]:
    """The trainer state of a run that starts from scratch (written as ``trainer_state.json`` in checkpoints)."""
    return {
        "epoch": 0,
        "batches_done": 0,
        "global_step": 0,
        "best_accuracy": None,
        "best_epoch": None,
        "history": [],
        "evaluations_since_best": 0,
        "stopped_early": False,
    }


def check_trackers(names: list[str]) -> list[str]:
    """The trackers of ``training.report_to``, each known to accelerate and installed; one-line errors otherwise.

    Args:
        names: the setting's names (:func:`kear.config.tracker_names`: ``none`` is already ``[]``); ``["all"]``
            stands for every tracker accelerate finds installed (none, on a machine without any).
    """
    if names == [ALL_TRACKERS]:
        found = [str(getattr(tracker, "value", tracker)) for tracker in get_available_trackers()]
        logger.info("training.report_to=all: %s", ", ".join(found) or "no tracker is installed (metrics.jsonl only)")
        return found
    for name in names:
        if name not in LOGGER_TYPE_TO_CLASS:
            known = ", ".join(sorted(LOGGER_TYPE_TO_CLASS))
            raise ConfigError(f"training.report_to: unknown tracker '{name}'; choose from {known}")
        if name in LoggerType.list() and LoggerType(name) not in get_available_trackers():
            raise ConfigError(f"training.report_to: {name} is not installed (pip install {name})")
    return list(names)


def check_processes(accelerator: Accelerator, launched: int) -> None:
    """Refuse a launch that did not give the processes it asked for, instead of running on fewer in silence."""
    if accelerator.num_processes != launched:
        raise KearError(
            f"launched as {launched} processes but accelerate joined {accelerator.num_processes} "
            f"({accelerator.distributed_type.value}); see docs/training.md for the launchers that work"
        )
    asked = {"ACCELERATE_USE_FSDP": DistributedType.FSDP, "ACCELERATE_USE_DEEPSPEED": DistributedType.DEEPSPEED}
    for variable, kind in asked.items():
        if os.environ.get(variable, "").lower() == "true" and accelerator.distributed_type != kind:
            raise ConfigError(
                f"the accelerate config asks for {kind.value}, but accelerate runs it only on GPUs (and other "
                f"accelerators); here it would run as {accelerator.distributed_type.value}. On CPUs use the recipe "
                "accelerate/cpu-2proc (kear recipe path accelerate/cpu-2proc)"
            )
    if launched == 1 and "MASTER_ADDR" in os.environ and os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true":
        # accelerate's MULTI_CPU launcher starts one process and expects mpirun to start the others
        logger.warning(
            "accelerate launch started 1 process: its multi-CPU launcher needs mpirun. For several processes on "
            "this machine use the recipe accelerate/cpu-2proc (kear recipe path accelerate/cpu-2proc), or torchrun "
            "--nproc_per_node N -m kear.cli train"
        )


def flat_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"training.learning_rate": 4e-06, ...}`` with scalar values, for the trackers."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(flat_settings(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


# Settings that may change when a run resumes: they change how it reports and how fast, not what it computes.
RESUMABLE_CHANGES = (
    "training.output_dir",
    "training.resume",
    "training.report_to",
    "training.num_workers",
    "training.logging_steps",
    "training.save_steps",
    "training.save_total_limit",
    "training.eval_batch_size",
)


def check_output_dir(config: TrainConfig, overwrite: bool = False) -> None:
    """Refuse an ``output_dir`` that holds what kear did not write (unless ``overwrite``), or a run of other
    settings it would resume.

    Resuming continues a run exactly; with other settings it would train nothing new (a finished run) or mix two
    runs, and overwrite the record of the first. Raises ``ConfigError`` naming the first differences.
    """
    output = Path(config.training.output_dir)
    saved = output / "train_config.yaml"
    # best/ and checkpoint/ are replaced whole as the run goes, and earlier checkpoints removed: nothing the run reads
    # may live there
    reads = [config.data.train, config.data.dev, config.model.name_or_path, *config.retrieval.read_paths()]
    for kept in (BEST, CHECKPOINT, *(path.name for path in kept_checkpoints(output / CHECKPOINT))):
        for source in reads:
            if source and Path(source).exists() and Path(source).resolve().is_relative_to((output / kept).resolve()):
                raise ConfigError(
                    f"training.output_dir: {output / kept} holds {source}, which the run reads and would replace; "
                    "move it, or choose another output_dir"
                )
    # the output rule (retrieval.outputs); the run writes among the folder's files, never over it: what it reads may
    # lie in it (but for best/ and checkpoint/, above), not around it
    here = output.resolve()
    local = [Path(s).resolve() for s in reads if s and Path(s).exists()]
    around = [where for where in local if where == here or not where.is_relative_to(here)]
    try:
        check_output(output, around, folder=True, overwrite=overwrite, owned=lambda folder: saved.is_file())
    except KearError as error:
        raise ConfigError(f"training.output_dir: {error}") from None
    if not (config.training.resume and has_checkpoint(output / CHECKPOINT)):
        return
    values, _ = read_settings_file(saved)  # with the limits of any settings file
    if not isinstance(values, dict):
        raise ConfigError(f"{saved}: not a run's settings; set training.resume=false to start the run over")
    before = flat_settings(values)
    now = flat_settings(settings_dict(config))
    changed = [
        k for k in sorted(before.keys() | now.keys()) if before.get(k) != now.get(k) and k not in RESUMABLE_CHANGES
    ]
    if changed:
        shown = "; ".join(f"{k}: {before.get(k)!r} there, {now.get(k)!r} now" for k in changed[:3])
        raise ConfigError(
            f"training.output_dir: {output} holds a run with other settings ({shown}); set training.resume=false to "
            "start it over, or choose another output_dir"
        )


def remove_leftovers(output: Path) -> None:
    """What a killed run left half-written in ``output_dir``: staging folders of checkpoints and models."""
    for kept in (CHECKPOINT, BEST):
        remove_staged(output / kept)


def train(config: TrainConfig, progress: bool = True, *, overwrite: bool = False) -> TrainResult:
    """Fine-tune a model as the settings say; resumes from ``output_dir/checkpoint`` when there is one.

    ``output_dir`` must be new, empty, or a run of kear's (with ``overwrite``, any folder: the run's files join
    those there); a run with other settings is resumed only on request (``training.resume=false`` starts it over).
    One run at a time writes an ``output_dir``.

    Args:
        config: the run's settings.
        progress: show progress bars (kear's, and those of the libraries it calls); ``False`` shows none.
        overwrite: write into an ``output_dir`` that holds files kear did not write.
    """
    if not config.data.train:
        raise KearError("data.train is not set: give the training records (e.g. data.train=train.jsonl)")
    check_data_settings(config)
    trackers = check_trackers(config.training.report_to)
    check_output_dir(config, overwrite)
    output = Path(config.training.output_dir)
    with (
        library_bars(progress, _reads_datasets(config)),
        output_lock(output) if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext(),
    ):
        if output.is_dir():
            remove_leftovers(output)
        records = read_run_records(config)  # before the model loads: dev records that are the training ones stop here
        run = _Run(config, progress, trackers)
        run.build(records)
        return run.run()
