"""Training checkpoints in safetensors and JSON only: no pickle anywhere.

A checkpoint folder holds what a resumed run needs to continue exactly where the interrupted one was:

* ``model.safetensors``: the model's weights, with (from a training run) ``config.json`` and the tokenizer's files,
  so that the folder is also a model folder that ``kear.load_model`` and ``kear predict`` read; with LoRA, the
  adapters merged in, and ``adapter/`` holding them apart (peft's format), from which a resume takes them back;
* ``optimizer.safetensors`` + ``optimizer.json``: the optimizer's state (tensors, and everything else); under
  DeepSpeed or FSDP, where every process holds a part of it, ``optimizer-<rank>.safetensors`` + ``.json``;
* ``scheduler.json``: the learning-rate schedule's position;
* ``rng-<rank>.safetensors`` + ``rng-<rank>.json``: every random generator of every process;
* ``trainer_state.json``: epoch, step, best score and history.

Any nested state (dicts, lists, tuples of tensors, numbers, strings) is split into its tensors, stored with
safetensors, and a JSON skeleton that points to them.

This module owns that layout: :func:`save_checkpoint` writes a whole checkpoint, :func:`load_checkpoint` reads it
back, and :func:`iterate_restoring_rng` puts the random generators back at the batch where they were saved. A
folder is never changed in place: a new one is written beside it and swapped in (:func:`staged_folder`), so that a
run killed at any moment leaves the previous checkpoint whole. The folder replaced may be kept, renamed after its
step (``checkpoint-<step>``), rather than removed (:func:`prune_checkpoints` then keeps the latest few).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import torch
from accelerate.utils import DistributedType
from safetensors.torch import load_file, save_file
from safetensors.torch import load_model as load_weights
from safetensors.torch import save_model as save_weights

from retrieval.errors import ConfigError
from retrieval.outputs import TEMPORARY_MARK, glob_escape, swap_in

from .adapters import ADAPTER, has_adapters, load_adapter, save_adapter

if TYPE_CHECKING:
    from accelerate import Accelerator

logger = logging.getLogger(__name__)

# the layout of a checkpoint folder (see the module's docstring); OPTIMIZER and RNG are prefixes of save_tree
MODEL = "model.safetensors"
OPTIMIZER = "optimizer"
SCHEDULER = "scheduler.json"
RNG = "rng"
TRAINER_STATE = "trainer_state.json"

TENSOR = "__tensor__"
TUPLE = "__tuple__"

T = TypeVar("T")


class Stateful(Protocol):
    """What an optimizer and a learning-rate schedule (accelerate's wrappers included) have in common here."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


# ------------------------------------------------------------------------------------------- nested state


def _split(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous()
        return {TENSOR: path}
    if isinstance(obj, dict):
        if not all(isinstance(k, (str, int)) for k in obj):
            raise TypeError(f"cannot store keys of {path or 'state'}")
        return {"__dict__": [[k, _split(v, tensors, f"{path}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_split(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
        return {TUPLE: items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.ndarray):
        return _split(torch.from_numpy(obj), tensors, path)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} at {path or 'state'}")


def _join(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skeleton, dict):
        if TENSOR in skeleton:
            return tensors[skeleton[TENSOR]]
        if TUPLE in skeleton:
            return tuple(_join(v, tensors) for v in skeleton[TUPLE])
        return {k: _join(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [_join(v, tensors) for v in skeleton]
    return skeleton


def save_tree(obj: Any, prefix: Path) -> None:
    """Store a nested state as ``<prefix>.safetensors`` and ``<prefix>.json``."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(obj, tensors, "")
    save_file(tensors, f"{prefix}.safetensors")
    Path(f"{prefix}.json").write_text(json.dumps(skeleton), encoding="utf-8")


def load_tree(prefix: Path) -> Any:
    """Read back what :func:`save_tree` stored."""
    tensors = load_file(f"{prefix}.safetensors")
    return _join(json.loads(Path(f"{prefix}.json").read_text(encoding="utf-8")), tensors)


def _has_tree(prefix: Path) -> bool:
    """Whether :func:`save_tree` stored something at ``prefix`` (its JSON is written last)."""
    return Path(f"{prefix}.json").is_file()


# ----------------------------------------------------------------------------------- random generators


def rng_state() -> dict[str, Any]:
    """The state of every random generator this process uses."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Put every random generator back as :func:`rng_state` found it (``state``: that, read back with load_tree).

    JSON has no tuples and safetensors no numpy arrays: both are turned back into what the generators take.
    """
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def iterate_restoring_rng(loader: Iterable[T], rng: dict[str, Any] | None, mid_epoch: bool) -> Iterator[T]:
    """The batches of ``loader``, with the random generators put back where the interrupted run saved them.

    Args:
        loader: the training batches of the epoch the run resumes in (its first batches skipped in mid-epoch).
        rng: the generators' state from the checkpoint (:func:`load_checkpoint`); ``None``: nothing to restore.
        mid_epoch: whether the checkpoint was saved inside the epoch rather than at its start.

    The loader draws its epoch's seed as it hands out its first batch. A checkpoint saved at an epoch's start
    holds the generators from before that draw, so they are restored before it; one saved in mid-epoch holds them
    from after it, so the restore waits until the first batch is out.
    """
    if rng is None or not mid_epoch:
        if rng is not None:
            set_rng_state(rng)
        return iter(loader)
    batches = iter(loader)
    first = next(batches, None)
    set_rng_state(rng)
    return chain([first], batches) if first is not None else batches


# ------------------------------------------------------------------------------------- folder swaps


def replace_folder(new: Path, target: Path, keep_as: Path | None = None) -> None:
    """Put a complete folder in place of ``target`` (the old one is removed only once the new one is there).

    Args:
        new: the complete folder.
        target: the folder it replaces (it need not exist).
        keep_as: where the old ``target`` goes instead of being removed (``None``: removed); a folder already
            there is replaced. A writer killed between the swap and this rename loses that old folder, never
            ``target``.
    """
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    swap_in(new, target, old)
    if keep_as is not None and old.is_dir():
        shutil.rmtree(keep_as, ignore_errors=True)
        os.replace(old, keep_as)
    shutil.rmtree(old, ignore_errors=True)


def _no_wait() -> None:
    """The barrier of a single writer: nobody to wait for."""


@contextlib.contextmanager
def staged_folder(
    target: Path,
    tag: str = "",
    *,
    main: bool = True,
    barrier: Callable[[], None] = _no_wait,
    keep_as: Path | None = None,
) -> Iterator[Path]:
    """Yield an empty folder ``.<name><tag>.kear.tmp`` beside ``target`` (marked inside as kear's, see
    :mod:`retrieval.outputs`); when the block ends, swap it in for ``target``.

    Args:
        target: the folder to replace (it need not exist yet).
        tag: what tells this staging folder from others of the same target (e.g. ``-<step>``).
        main: whether this process creates and swaps the folder; the other processes only write into it.
        barrier: waits for every process, so that the folder exists before anyone writes, and everyone has
            written before it is swapped in (the default, for a single writer, waits for nobody).
        keep_as: where the replaced ``target`` is kept (``None``: it is removed); see :func:`replace_folder`.

    A block that raises leaves ``target`` as it was, and the staging folder to :func:`remove_staged` (other
    processes may still be writing into it).
    """
    # one name that every process knows without being told (no random part), with kear's mark in it
    staging = target.with_name(f".{target.name}{tag}.kear.tmp")
    if main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        (staging / TEMPORARY_MARK).write_bytes(b"")
    barrier()
    yield staging
    barrier()
    if main:
        (staging / TEMPORARY_MARK).unlink(missing_ok=True)  # the mark stays out of the folder it becomes
        replace_folder(staging, target, keep_as)
    barrier()


def remove_staged(target: Path) -> None:
    """Remove what a writer killed while replacing ``target`` left beside it: staging folders, the old version.

    A writer killed between the two renames of :func:`replace_folder` left no ``target``, only its old version:
    that version is put back, so a resume loses one save, never the whole checkpoint.
    """
    old = target.with_name(f".{target.name}.old")
    if old.is_dir() and not target.exists():
        os.replace(old, target)
    for leftover in target.parent.glob(f".{glob_escape(target.name)}*.kear.tmp"):
        if leftover.is_dir() and not leftover.is_symlink() and (leftover / TEMPORARY_MARK).is_file():
            shutil.rmtree(leftover, ignore_errors=True)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------- whole checkpoints


def has_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint to resume from."""
    return (folder / TRAINER_STATE).is_file()


def checkpoint_step(folder: Path) -> int:
    """The optimizer step a checkpoint was written at (``folder``: one that :func:`has_checkpoint`)."""
    return int(json.loads((folder / TRAINER_STATE).read_text())["global_step"])


def kept_checkpoints(folder: Path) -> list[Path]:
    """The earlier checkpoints kept beside ``folder`` as ``<name>-<step>``, oldest first (folders of other names,
    or without a checkpoint inside, are not counted)."""
    name = re.compile(rf"{re.escape(folder.name)}-(\d+)")
    kept = [
        (int(found.group(1)), path)
        for path in folder.parent.glob(f"{glob_escape(folder.name)}-*")
        if (found := name.fullmatch(path.name)) and path.is_dir() and not path.is_symlink() and has_checkpoint(path)
    ]
    return [path for _, path in sorted(kept)]


def prune_checkpoints(folder: Path, keep: int | None) -> None:
    """Remove the earlier checkpoints kept beside ``folder`` but the ``keep`` latest (``None``: keep them all)."""
    if keep is None:
        return
    kept = kept_checkpoints(folder)
    for path in kept[: max(0, len(kept) - keep)]:
        shutil.rmtree(path)


def is_sharded(accelerator: Accelerator) -> bool:
    """Whether weights or optimizer state are split across processes (DeepSpeed, FSDP)."""
    return accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)


def _optimizer_prefix(folder: Path, accelerator: Accelerator) -> Path:
    """Where this process's optimizer state goes: one file for all, or one per process when it is sharded."""
    return folder / (f"{OPTIMIZER}-{accelerator.process_index}" if is_sharded(accelerator) else OPTIMIZER)


def _rng_prefix(folder: Path, accelerator: Accelerator) -> Path:
    """Where this process's random generators go (each process has its own)."""
    return folder / f"{RNG}-{accelerator.process_index}"


def save_checkpoint(
    folder: Path,
    state: dict[str, Any],
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: Stateful,
    scheduler: Stateful,
    *,
    model_files: Callable[[Path], None] | None = None,
    keep_previous: bool = False,
) -> None:
    """Write ``folder`` whole, from every process at once, swapping it in only when all have written their part.

    Args:
        folder: the checkpoint folder (``output_dir/checkpoint``); replaced, never changed in place.
        state: the trainer state (epoch, batches done, global step, best score, history), as JSON.
        accelerator: the run's accelerator: which process this is, and the barrier between processes.
        model, optimizer, scheduler: what ``accelerator.prepare`` returned.
        model_files: writes the rest of a model folder into the folder it is given (the model's config and
            tokenizer), on the main process, so that the checkpoint is also a model folder.
        keep_previous: keep the checkpoint ``folder`` held before as ``<folder>-<its step>`` rather than remove it.
    """
    main = accelerator.is_main_process
    tag = f"-{state['global_step']}"
    keep_as = None
    if main and keep_previous and has_checkpoint(folder):
        keep_as = folder.with_name(f"{folder.name}-{checkpoint_step(folder)}")
    with staged_folder(folder, tag, main=main, barrier=accelerator.wait_for_everyone, keep_as=keep_as) as staging:
        save_tree(rng_state(), _rng_prefix(staging, accelerator))
        _save_model_and_optimizer(staging, accelerator, model, optimizer)
        if main:
            if model_files is not None:
                model_files(staging)
            # the schedule's lr_lambdas are functions: the schedule built from the settings brings them back
            scheduler_state = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
            (staging / SCHEDULER).write_text(json.dumps(scheduler_state))
            (staging / TRAINER_STATE).write_text(json.dumps(state, indent=2))


def _save_model_and_optimizer(
    staging: Path, accelerator: Accelerator, model: torch.nn.Module, optimizer: Stateful
) -> None:
    """Write the weights (main process) and the optimizer state (main process, or each one's part if sharded).

    LoRA adapters are written apart (``adapter/``) and merged into ``model.safetensors``, which then loads as a
    whole model; under DeepSpeed and FSDP the weights are written as gathered, adapters unmerged.
    """
    if not is_sharded(accelerator):
        if accelerator.is_main_process:
            unwrapped = accelerator.unwrap_model(model)
            if has_adapters(unwrapped):
                from .modeling import merged_copy

                save_adapter(unwrapped, staging / ADAPTER)
                unwrapped = merged_copy(unwrapped)
            save_weights(unwrapped, str(staging / MODEL))
            save_tree(optimizer.state_dict(), staging / OPTIMIZER)
        return
    # DeepSpeed and FSDP: every process takes part in gathering the weights; each keeps its optimizer state
    weights = accelerator.get_state_dict(model)
    try:
        save_tree(optimizer.state_dict(), _optimizer_prefix(staging, accelerator))
    except TypeError as error:  # an optimizer wrapper whose state is not plain tensors and numbers
        logger.warning("optimizer state not checkpointed (%s); a resumed run restarts it", error)
    if accelerator.is_main_process:
        save_file({k: v.contiguous().cpu() for k, v in weights.items()}, str(staging / MODEL))


def load_checkpoint(
    folder: Path, accelerator: Accelerator, model: torch.nn.Module, optimizer: Stateful, scheduler: Stateful
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Restore weights, optimizer state and schedule from ``folder`` in place.

    Args:
        folder: a checkpoint written by :func:`save_checkpoint` (see :func:`has_checkpoint`).
        accelerator, model, optimizer, scheduler: as for :func:`save_checkpoint`.

    Returns:
        The trainer state, and this process's random generators (``None`` where the checkpoint has none); those are
        restored by :func:`iterate_restoring_rng`, at the batch where they were saved, not here.

    Raises:
        ConfigError: the checkpoint is of another model.
    """
    state = json.loads((folder / TRAINER_STATE).read_text())
    try:
        _load_model(folder, accelerator.unwrap_model(model))
    except RuntimeError as error:  # another model's checkpoint: say so instead of a state-dict dump
        raise ConfigError(
            f"{folder} holds a checkpoint of a different model ({str(error).splitlines()[-1].strip()[:120]}); "
            "choose another training.output_dir, or set training.resume=false to start over"
        ) from None
    optimizer_prefix = _optimizer_prefix(folder, accelerator)
    if _has_tree(optimizer_prefix):  # absent where a sharded optimizer's state could not be stored
        optimizer.load_state_dict(load_tree(optimizer_prefix))
    scheduler_state = scheduler.state_dict()  # its lr_lambdas, which the checkpoint leaves out
    scheduler_state.update(json.loads((folder / SCHEDULER).read_text()))
    scheduler.load_state_dict(scheduler_state)
    rng = _rng_prefix(folder, accelerator)
    return state, load_tree(rng) if _has_tree(rng) else None


def _load_model(folder: Path, model: torch.nn.Module) -> None:
    """Put the checkpoint's weights into ``model`` (unwrapped); ``RuntimeError`` when they are another model's.

    A checkpoint with ``adapter/`` holds the adapters apart and merged into ``model.safetensors``: a model with
    adapters takes them from ``adapter/`` and the rest (head, scorer) from ``model.safetensors``; its encoder's own
    weights are frozen, and already the pretrained encoder's. Any other checkpoint (those of older runs with
    adapters, unmerged, included) loads whole.
    """
    if not ((folder / ADAPTER).is_dir() and has_adapters(model)):
        load_weights(model, str(folder / MODEL))
        return
    outside = {k: v for k, v in load_file(str(folder / MODEL)).items() if not k.startswith("encoder.")}
    result = model.load_state_dict(outside, strict=False)
    missing = [key for key in result.missing_keys if not key.startswith("encoder.")]
    if missing or result.unexpected_keys:
        raise RuntimeError(f"its weights do not fit this model ({(missing or result.unexpected_keys)[0]})")
    load_adapter(model, folder / ADAPTER)
