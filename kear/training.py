"""Fine-tuning for multiple choice with accelerate: one process, one GPU or many, the same code.

Run it as ``kear train --config configs/train/<recipe>.yaml``, under ``accelerate launch`` with any of the
configs in ``configs/accelerate/``, or under ``torchrun``. Batches are global (split across processes), so a
2-process run takes the same optimizer steps as a 1-process run. Launched as several processes on a machine
without a GPU, the processes join over gloo on the CPU. A run writes into ``training.output_dir``:

* ``checkpoint/``: the latest state, in safetensors and JSON; a rerun resumes from it;
* ``best/``: the model of the best epoch on the dev set (``kear predict`` and ``kear evaluate`` read it);
* ``metrics.jsonl`` (and the trackers of ``training.report_to``); ``results.json`` at the end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
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

from retrieval import annotate, read_records
from retrieval.errors import ConfigError, KearError
from retrieval.outputs import check_output, output_lock
from retrieval.settings import read_settings_file, save_settings, settings_dict

from .checkpoint import (
    has_checkpoint,
    iterate_restoring_rng,
    load_checkpoint,
    remove_staged,
    save_checkpoint,
    staged_folder,
)
from .config import TrainConfig
from .evaluation import accuracy_of, choice_scores, predictions_for
from .inference import warn_if_bf16_emulated
from .inputs import ChoiceCollator, Example, LengthGroupedBatchSampler, encode_records
from .modeling import KearModel, from_pretrained, save_model
from .optim import build_optimizer, build_scheduler

logger = logging.getLogger(__name__)

# the folders of output_dir that are replaced whole as the run goes (their insides: checkpoint.py, modeling.py)
CHECKPOINT = "checkpoint"
BEST = "best"


@dataclass
class TrainResult:
    """What a run achieved."""

    output_dir: Path
    best_accuracy: float | None = None
    best_epoch: float | None = None  # epochs done when the best model was evaluated (0.5: half an epoch)
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    num_processes: int = 1


def load_examples(
    path: str, config: TrainConfig, tokenizer: Any, limit: int | None = None, progress: bool = True
) -> list[Example]:
    """Records from ``path`` (with knowledge added first when ``data.retrieve`` is set), as token ids."""
    records = read_records(path, split=config.data.split, num_choices=config.data.num_choices)
    records = islice(records, limit) if limit else records
    if config.data.retrieve:
        records = annotate(records, config.retrieval, progress=progress)
    return list(encode_records(records, tokenizer, config.inputs))


def _apply_lora(model: KearModel, config: TrainConfig) -> None:
    from peft import LoraConfig, get_peft_model

    lora = config.lora
    adapter = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules)
    try:
        model.encoder = get_peft_model(model.encoder, adapter)
    except ValueError as error:  # peft's word for names no module of the encoder has, or no default for its type
        found = sorted({name.rsplit(".", 1)[-1] for name, _ in model.encoder.named_modules() if "." in name})
        raise ConfigError(
            f"lora.target_modules: {lora.target_modules}: {str(error).splitlines()[0]} (module names of this encoder "
            f"include {', '.join(found[:12])})"
        ) from None


class _Run:
    """State of one training run; split in methods so that each step reads on its own."""

    def __init__(self, config: TrainConfig, progress: bool) -> None:
        self.config, self.progress = config, progress
        settings = config.training
        self.output = Path(settings.output_dir)
        trackers = check_trackers(settings.report_to)
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

    def build(self) -> None:
        """Build the model, read the data, and hand model, optimizer, loader and schedule to accelerate."""
        settings = self.config.training
        # the model first: an encoder that cannot serve (a pickle, too short for max_length) stops the run before
        # the data is read and tokenized (the order changes no random draw: reading data draws none)
        model = self.build_model()
        self.read_data()
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
            retrieval=asdict(config.retrieval),
            rules=asdict(config.rules),
        )
        if config.model.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        if config.lora.enabled:
            _apply_lora(model, config)
        return model

    def read_data(self) -> None:
        """Read and tokenize the training and dev records (knowledge retrieved first when ``data.retrieve`` is set)."""
        config, show = self.config, self.progress and self.main
        with self.accelerator.main_process_first():  # the others then find retrieved knowledge in the cache
            self.train_examples = load_examples(
                config.data.train, config, self.tokenizer, config.data.max_train_records, show
            )
            self.dev_examples = None
            if config.data.dev:
                self.dev_examples = load_examples(
                    config.data.dev, config, self.tokenizer, config.data.max_dev_records, show
                )

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
        """Write ``checkpoint/`` with ``state`` (the trainer state), the model, optimizer, schedule and generators."""
        save_checkpoint(self.output / CHECKPOINT, state, self.accelerator, self.model, self.optimizer, self.scheduler)

    # ------------------------------------------------------------------------------------------ logging

    def log(self, record: dict[str, Any]) -> None:
        """Append ``record`` (with its optimizer ``step``) to ``metrics.jsonl`` and send its numbers to the trackers."""
        if self.main:
            with open(self.metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        values = {k: v for k, v in record.items() if k != "step" and isinstance(v, (int, float))}
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
        """Keep the model as it is now in ``best/``: what ``kear predict`` and ``kear evaluate`` read."""
        if self.main:
            with staged_folder(self.output / BEST) as staging:
                save_model(self.accelerator.unwrap_model(self.model), self.tokenizer, staging)
                save_settings(self.config, staging / "train_config.yaml")
        self.accelerator.wait_for_everyone()

    def run(self) -> TrainResult:
        """Train, epoch by epoch, from where a checkpoint left off (or from the start); see the steps below."""
        state = self.resume()
        self.prepare(state)
        for epoch in range(state["epoch"], self.epochs):
            self.train_epoch(epoch, state)
            self.end_epoch(epoch, state)
            if state["global_step"] >= self.total_steps:
                break
        return self.finish(state)

    def resume(self) -> dict[str, Any]:
        """The trainer state to start from: the checkpoint's, restored into model, optimizer and schedule, when
        ``training.resume`` is set and there is one; a fresh state otherwise."""
        folder = self.output / CHECKPOINT
        # the random generators of the checkpoint are put back only at the first batch (see train_epoch)
        self.rng: dict[str, Any] | None = None
        if not (self.config.training.resume and has_checkpoint(folder)):
            return fresh_state()
        state, self.rng = load_checkpoint(folder, self.accelerator, self.model, self.optimizer, self.scheduler)
        logger.info("resuming from %s at step %d", folder, state["global_step"])
        return state

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
            self.running.append(self.accelerator.gather(loss.detach()).mean().item())
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
        """Record an optimizer step taken on batch ``index`` of ``epoch`` in ``state``; log the loss and checkpoint
        as the settings ask. Returns whether it was the run's last step."""
        settings = self.config.training
        state["global_step"] += 1
        state.update(epoch=epoch, batches_done=index + 1)
        self.epochs_done = epoch + (index + 1) / len(self.sampler)
        self.bar.update(1)
        step = state["global_step"]
        if step % settings.logging_steps == 0 or step == self.total_steps:
            self.log_loss(step)
        # the last step is followed by the epoch's own checkpoint (end_epoch): no need for two
        if settings.save_steps and step % settings.save_steps == 0 and step < self.total_steps:
            self.write_checkpoint(state)
        return step >= self.total_steps

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
        """Evaluate on the dev set, keep the model in ``best/`` if it is the best yet (the latest, without a dev
        set), and checkpoint: a resumed run then starts at the next epoch."""
        accuracy = self.evaluate()
        entry = {"epoch": round(self.epochs_done, 4), "step": state["global_step"], "dev_accuracy": accuracy}
        state["history"].append(entry)
        self.log(entry)
        if accuracy is not None and (state["best_accuracy"] is None or accuracy > state["best_accuracy"]):
            state.update(best_accuracy=accuracy, best_epoch=entry["epoch"])
            self.save_best()
        elif accuracy is None:
            self.save_best()  # no dev set: keep the latest model
        state.update(epoch=epoch + 1, batches_done=0)
        self.write_checkpoint(state)

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
        )
        if self.main:
            summary = json.dumps({k: v for k, v in asdict(result).items() if k != "output_dir"}, indent=2)
            (self.output / "results.json").write_text(summary)
            if (self.output / BEST).is_dir():  # the model folder carries its own results (for its model card)
                (self.output / BEST / "results.json").write_text(summary)
        return result


def fresh_state() -> dict[str, Any]:
    """The trainer state of a run that starts from scratch (written as ``trainer_state.json`` in checkpoints)."""
    return {"epoch": 0, "batches_done": 0, "global_step": 0, "best_accuracy": None, "best_epoch": None, "history": []}


def check_trackers(names: list[str]) -> list[str]:
    """The trackers of ``training.report_to``, each known to accelerate and installed; one-line errors otherwise."""
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
                f"accelerators); here it would run as {accelerator.distributed_type.value}. On CPUs use "
                "configs/accelerate/cpu-2proc.yaml"
            )
    if launched == 1 and "MASTER_ADDR" in os.environ and os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true":
        # accelerate's MULTI_CPU launcher starts one process and expects mpirun to start the others
        logger.warning(
            "accelerate launch started 1 process: its multi-CPU launcher needs mpirun. For several processes on "
            "this machine use configs/accelerate/cpu-2proc.yaml, or torchrun --nproc_per_node N -m kear.cli train"
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
    # best/ and checkpoint/ are replaced whole as the run goes: nothing the run reads may live there
    reads = [config.data.train, config.data.dev, config.model.name_or_path, *config.retrieval.read_paths()]
    for kept in (BEST, CHECKPOINT):
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
    """
    if not config.data.train:
        raise KearError("data.train is not set: give the training records (e.g. data.train=train.jsonl)")
    check_output_dir(config, overwrite)
    output = Path(config.training.output_dir)
    with output_lock(output) if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext():
        if output.is_dir():
            remove_leftovers(output)
        run = _Run(config, progress)
        run.build()
        return run.run()
