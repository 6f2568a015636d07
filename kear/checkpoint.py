"""Training checkpoints in safetensors and JSON only: no pickle anywhere.

A checkpoint folder holds what a resumed run needs to continue exactly where the interrupted one was:

* ``model.safetensors``: the model's weights;
* ``optimizer.safetensors`` + ``optimizer.json``: the optimizer's state (tensors, and everything else);
* ``scheduler.json``: the learning-rate schedule's position;
* ``rng-<rank>.safetensors`` + ``rng-<rank>.json``: every random generator of every process;
* ``trainer_state.json``: epoch, step, best score and history.

Any nested state (dicts, lists, tuples of tensors, numbers, strings) is split into its tensors, stored with
safetensors, and a JSON skeleton that points to them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

TENSOR = "__tensor__"
TUPLE = "__tuple__"


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


def rng_state() -> dict[str, Any]:
    """The state of every random generator this process uses."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def replace_folder(new: Path, target: Path) -> None:
    """Put a complete folder in place of ``target`` (the old one is removed only once the new one is there)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
