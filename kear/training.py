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
import shutil
import time
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.state import AcceleratorState
from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers
from accelerate.utils import DistributedType, LoggerType, set_seed
from safetensors.torch import load_model as load_weights
from safetensors.torch import save_file
from safetensors.torch import save_model as save_weights
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from retrieval import annotate, read_records
from retrieval.errors import ConfigError, KearError
from retrieval.io import output_lock
from retrieval.settings import read_settings_file, save_settings, settings_dict

from .checkpoint import load_tree, replace_folder, rng_state, save_tree, set_rng_state
from .config import TrainConfig
from .evaluation import accuracy_of, choice_scores, predictions_for
from .inputs import ChoiceCollator, Example, LengthGroupedBatchSampler, encode_records
from .modeling import KearModel, from_pretrained, save_model
from .optim import build_optimizer, build_scheduler

logger = logging.getLogger(__name__)


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
    model.encoder = get_peft_model(model.encoder, adapter)


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
        return self.accelerator.is_main_process

    @property
    def sharded(self) -> bool:
        """Whether weights or optimizer state are split across processes (DeepSpeed, FSDP)."""
        return self.accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)

    def build(self) -> None:
        config, settings = self.config, self.config.training
        show = self.progress and self.main
        # the model first: an encoder that cannot serve (a pickle, too short for max_length) stops the run before
        # the data is read and tokenized (the order changes no random draw: reading data draws none)
        model = KearModel.from_encoder(
            config.model.name_or_path,
            head=config.model.head,
            head_settings=config.model.head_settings,
            classifier_dropout=config.model.classifier_dropout,
            length_buckets=config.model.length_buckets,
            inputs=asdict(config.inputs),
            retrieval=asdict(config.retrieval),
        )
        if config.model.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        if config.lora.enabled:
            _apply_lora(model, config)
        with self.accelerator.main_process_first():  # the others then find retrieved knowledge in the cache
            self.train_examples = load_examples(
                config.data.train, config, self.tokenizer, config.data.max_train_records, show
            )
            self.dev_examples = None
            if config.data.dev:
                self.dev_examples = load_examples(
                    config.data.dev, config, self.tokenizer, config.data.max_dev_records, show
                )
        self.sampler = LengthGroupedBatchSampler(
            [e.length for e in self.train_examples],
            settings.batch_size,
            seed=settings.seed,
            group_by_length=settings.group_by_length,
        )
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.pad_token_id = pad
        multiple = 8 if settings.mixed_precision != "no" else None
        loader = DataLoader(
            self.train_examples,
            batch_sampler=self.sampler,
            collate_fn=ChoiceCollator(pad, multiple),
            num_workers=settings.num_workers,
        )
        self.steps_per_epoch = math.ceil(len(self.sampler) / settings.gradient_accumulation_steps)
        self.total_steps = settings.max_steps or math.ceil(settings.epochs * self.steps_per_epoch)
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        optimizer = build_optimizer(model, settings)
        scheduler = build_scheduler(optimizer, settings, self.total_steps)
        self.model, self.optimizer, self.loader, self.scheduler = self.accelerator.prepare(
            model, optimizer, loader, scheduler
        )

    # --------------------------------------------------------------------------------------- checkpoints

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write ``checkpoint/`` atomically: a new folder, filled by every process, then swapped in."""
        target = self.output / "checkpoint"
        staging = self.output / f".checkpoint-{state['global_step']}.tmp"
        if self.main:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        rank = self.accelerator.process_index
        save_tree(rng_state(), staging / f"rng-{rank}")
        if self.sharded:  # DeepSpeed and FSDP: weights gathered by every process, optimizer state per process
            weights = self.accelerator.get_state_dict(self.model)
            try:
                save_tree(self.optimizer.state_dict(), staging / f"optimizer-{rank}")
            except TypeError as error:  # an optimizer wrapper whose state is not plain tensors and numbers
                logger.warning("optimizer state not checkpointed (%s); a resumed run restarts it", error)
            if self.main:
                save_file({k: v.contiguous().cpu() for k, v in weights.items()}, str(staging / "model.safetensors"))
        elif self.main:
            save_weights(self.accelerator.unwrap_model(self.model), str(staging / "model.safetensors"))
            save_tree(self.optimizer.state_dict(), staging / "optimizer")
        if self.main:
            scheduler_state = {k: v for k, v in self.scheduler.state_dict().items() if k != "lr_lambdas"}
            (staging / "scheduler.json").write_text(json.dumps(scheduler_state))
            (staging / "trainer_state.json").write_text(json.dumps(state, indent=2))
        self.accelerator.wait_for_everyone()
        if self.main:
            replace_folder(staging, target)
        self.accelerator.wait_for_everyone()

    def load_checkpoint(self) -> dict[str, Any] | None:
        folder = self.output / "checkpoint"
        if not (self.config.training.resume and (folder / "trainer_state.json").is_file()):
            return None
        state = json.loads((folder / "trainer_state.json").read_text())
        try:
            load_weights(self.accelerator.unwrap_model(self.model), str(folder / "model.safetensors"))
        except RuntimeError as error:  # another model's checkpoint: say so instead of a state-dict dump
            raise ConfigError(
                f"{folder} holds a checkpoint of a different model ({str(error).splitlines()[-1].strip()[:120]}); "
                "choose another training.output_dir, or set training.resume=false to start over"
            ) from None
        optimizer = folder / (f"optimizer-{self.accelerator.process_index}" if self.sharded else "optimizer")
        if Path(f"{optimizer}.json").is_file():
            self.optimizer.load_state_dict(load_tree(optimizer))
        scheduler_state = self.scheduler.state_dict()
        scheduler_state.update(json.loads((folder / "scheduler.json").read_text()))
        self.scheduler.load_state_dict(scheduler_state)
        rng = folder / f"rng-{self.accelerator.process_index}"
        state["rng"] = load_tree(rng) if Path(f"{rng}.json").is_file() else None
        logger.info("resuming from %s at step %d", folder, state["global_step"])
        return state

    # ------------------------------------------------------------------------------------------ logging

    def log(self, record: dict[str, Any]) -> None:
        if self.main:
            with open(self.metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        values = {k: v for k, v in record.items() if k != "step" and isinstance(v, (int, float))}
        self.accelerator.log(values, step=record["step"])  # the trackers, on the main process only

    def open_logs(self, resumed_step: int) -> None:
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
        if not self.dev_examples:
            return None
        batch = self.config.training.eval_batch_size or self.config.training.batch_size
        scores = choice_scores(self.model, self.dev_examples, batch, self.pad_token_id, self.accelerator)
        self.model.train()
        return accuracy_of(predictions_for(self.dev_examples, scores))

    def save_best(self) -> None:
        if self.main:
            staging = self.output / ".best.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            save_model(self.accelerator.unwrap_model(self.model), self.tokenizer, staging)
            save_settings(self.config, staging / "train_config.yaml")
            replace_folder(staging, self.output / "best")
        self.accelerator.wait_for_everyone()

    def run(self) -> TrainResult:
        settings = self.config.training
        state = self.load_checkpoint() or {
            "epoch": 0,
            "batches_done": 0,
            "global_step": 0,
            "best_accuracy": None,
            "best_epoch": None,
            "history": [],
        }
        rng = state.pop("rng", None)
        self.describe(state["global_step"])
        self.open_logs(state["global_step"])
        if self.main:
            save_settings(self.config, self.output / "train_config.yaml")
        bar = tqdm(
            total=self.total_steps,
            initial=state["global_step"],
            desc="training",
            unit=" steps",
            disable=not (self.progress and self.main),
        )
        self.model.train()
        running, started = [], time.perf_counter()
        done = state["epoch"] + state["batches_done"] / len(self.sampler)  # epochs done, as a fraction
        for epoch in range(state["epoch"], self.epochs):
            skip = state["batches_done"] if epoch == state["epoch"] else 0
            loader = self.accelerator.skip_first_batches(self.loader, skip) if skip else self.loader
            # accelerate's loaders hand their own epoch count to the batch sampler when iterated: set both
            loader.set_epoch(epoch)
            self.sampler.set_epoch(epoch)
            # Random generators are restored where the interrupted run saved them: at an epoch's start, before
            # the loader draws its seed (on its first batch); in mid-epoch, after it.
            if rng is not None and not skip:
                set_rng_state(rng)
                rng = None
            batches = iter(loader)
            first = next(batches, None)
            if rng is not None:
                set_rng_state(rng)
                rng = None
            batches = chain([first], batches) if first is not None else batches
            for index, batch in enumerate(batches, start=skip):
                with self.accelerator.accumulate(self.model):
                    loss = self.model(**batch).loss
                    self.accelerator.backward(loss)
                    if self.accelerator.sync_gradients and settings.max_grad_norm:
                        self.accelerator.clip_grad_norm_(self.model.parameters(), settings.max_grad_norm)
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad()
                running.append(self.accelerator.gather(loss.detach()).mean().item())
                if not self.accelerator.sync_gradients:
                    continue
                state["global_step"] += 1
                state.update(epoch=epoch, batches_done=index + 1)
                done = epoch + (index + 1) / len(self.sampler)
                bar.update(1)
                step = state["global_step"]
                if step % settings.logging_steps == 0 or step == self.total_steps:
                    self.log(
                        {
                            "step": step,
                            "epoch": round(done, 4),
                            "loss": sum(running) / len(running),
                            "learning_rate": self.scheduler.get_last_lr()[0],
                            "seconds": round(time.perf_counter() - started, 2),
                        }
                    )
                    running = []
                if settings.save_steps and step % settings.save_steps == 0 and step < self.total_steps:
                    self.save_checkpoint(state)
                if step >= self.total_steps:
                    break
            accuracy = self.evaluate()
            entry = {"epoch": round(done, 4), "step": state["global_step"], "dev_accuracy": accuracy}
            state["history"].append(entry)
            self.log(entry)
            if accuracy is not None and (state["best_accuracy"] is None or accuracy > state["best_accuracy"]):
                state.update(best_accuracy=accuracy, best_epoch=entry["epoch"])
                self.save_best()
            elif accuracy is None:
                self.save_best()  # no dev set: keep the latest model
            state.update(epoch=epoch + 1, batches_done=0)
            self.save_checkpoint(state)
            if state["global_step"] >= self.total_steps:
                break
        bar.close()
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
            if (self.output / "best").is_dir():  # the model folder carries its own results (for its model card)
                (self.output / "best" / "results.json").write_text(summary)
        return result


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


def check_output_dir(config: TrainConfig) -> None:
    """Refuse an ``output_dir`` that holds what kear did not write, or a run of other settings it would resume.

    Resuming continues a run exactly; with other settings it would train nothing new (a finished run) or mix two
    runs, and overwrite the record of the first. Raises ``ConfigError`` naming the first differences.
    """
    output = Path(config.training.output_dir)
    saved = output / "train_config.yaml"
    # best/ and checkpoint/ are replaced whole as the run goes: nothing the run reads may live there
    reads = [config.data.train, config.data.dev, config.model.name_or_path, *config.retrieval.read_paths()]
    for kept in ("best", "checkpoint"):
        for source in reads:
            if source and Path(source).exists() and Path(source).resolve().is_relative_to((output / kept).resolve()):
                raise ConfigError(
                    f"training.output_dir: {output / kept} holds {source}, which the run reads and would replace; "
                    "move it, or choose another output_dir"
                )
    if output.exists() and not output.is_dir():
        raise ConfigError(f"training.output_dir: {output} is not a folder")
    if output.is_dir() and any(output.iterdir()) and not saved.is_file():
        raise ConfigError(f"training.output_dir: {output} holds files kear did not write; give a new or empty folder")
    if not (config.training.resume and (output / "checkpoint" / "trainer_state.json").is_file()):
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
    for pattern in (".checkpoint-*.tmp", ".best.tmp", ".*.old"):
        for leftover in output.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def train(config: TrainConfig, progress: bool = True) -> TrainResult:
    """Fine-tune a model as the settings say; resumes from ``output_dir/checkpoint`` when there is one.

    ``output_dir`` must be new, empty, or a run of kear's; a run with other settings is resumed only on request
    (``training.resume=false`` starts it over). One run at a time writes an ``output_dir``.
    """
    if not config.data.train:
        raise KearError("data.train is not set: give the training records (e.g. data.train=train.jsonl)")
    check_output_dir(config)
    output = Path(config.training.output_dir)
    with output_lock(output) if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext():
        if output.is_dir():
            remove_leftovers(output)
        run = _Run(config, progress)
        run.build()
        return run.run()
