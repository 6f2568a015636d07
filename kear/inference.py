"""How a trained model runs at prediction: eager PyTorch at full precision, or a faster setting for the CPU.

``kear predict``, ``kear evaluate`` and ``kear ensemble`` take ``--inference BACKEND``, and
:func:`kear.predict_records` and :func:`kear.predict_file` take ``inference=``:

* ``torch`` (the default): the model as it is, eager PyTorch, fp32;
* ``torch-bf16``: the encoder's weights and activations in bfloat16 (the pooling head and the scorer stay fp32);
  no extra dependency; on a CPU with native bf16 (AVX-512 BF16 or AMX) about as fast as int8 and far closer to
  fp32 (docs/benchmarks/predict.md); on one without, slower than ``torch`` (a warning says so);
* ``torch-int8``: PyTorch's dynamic int8 quantisation of every linear layer (weights per output channel,
  activations quantised on the fly); no extra dependency;
* ``onnx``: the encoder exported to ONNX and run by ONNX Runtime, fp32 (the same scores up to rounding);
* ``onnx-int8``: that graph with ONNX Runtime's dynamic int8 quantisation (weights per channel); the fastest on a
  CPU with AVX-512 VNNI (docs/benchmarks/predict.md).

The ONNX ones need ``pip install 'kear[onnx]'`` (onnxruntime and onnx). Only the encoder runs in ONNX Runtime:
the pooling head and the choice scorer stay in PyTorch, and :meth:`kear.modeling.KearModel.forward` and
``encode`` run as always, so only real choices are encoded, in length buckets, whatever the number of choices
and the sequence length (both axes of the graph are dynamic).

The exported graph is cached, never in the model's folder (an input, perhaps read-only or shared): in
``$KEAR_CACHE/onnx`` (default ``~/.cache/kear/onnx``), one folder per fingerprint of the encoder (its config and
every byte of its weights, and the torch and onnxruntime versions), each file written under a temporary name and
moved into place, so that a killed export leaves nothing that a later run would read. Every export is checked
against the encoder it came from before it is kept.

All backends run on the CPU threads PyTorch uses (``torch.get_num_threads()``: the physical cores, or
``OMP_NUM_THREADS``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import importlib.util
import inspect
import json
import logging
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.errors import ConfigError, KearError, first_line
from retrieval.settings import SettingError, check_choice, check_text

# torch is imported where it is used: the command line reads BACKENDS for --help without loading it
if TYPE_CHECKING:
    import torch
    from torch import nn

# The settings, and what each one is, for --help and the docs.
BACKENDS = {
    "torch": "eager PyTorch, fp32 (the default)",
    "torch-bf16": "the encoder in bfloat16 (fast where the CPU has native bf16; the closest to fp32 of the fast ones)",
    "torch-int8": "PyTorch dynamic int8 quantisation of the linear layers",
    "onnx": "the encoder in ONNX Runtime, fp32",
    "onnx-int8": "the encoder in ONNX Runtime, dynamic int8 quantisation (with torch-int8, the fastest on the CPU)",
}
ONNX_INSTALL = "pip install 'kear[onnx]'"
# The opset of the exported graph: ONNX Runtime has run it for years, and it has LayerNormalization.
OPSET = 17
# Bumped when the export changes, so that graphs exported by an older kear are not read.
EXPORT_FORMAT = 1
# An export is kept only if it gives the encoder's own hidden states within this much (fp32 rounding is ~1e-6).
EXPORT_TOLERANCE = 1e-3

logger = logging.getLogger(__name__)


@dataclass
class InferenceConfig:
    """How a model runs at prediction.

    Args:
        backend: one of :data:`BACKENDS`: ``torch``, ``torch-bf16``, ``torch-int8``, ``onnx``, ``onnx-int8``.
        cache_dir: where exported ONNX graphs are kept (default ``$KEAR_CACHE/onnx``, or ``~/.cache/kear/onnx``).

    Checked when built: ``backend`` one of them, ``cache_dir`` a non-empty path or ``None``.
    """

    backend: str = "torch"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        check_choice(self.backend, "backend", BACKENDS)
        check_text(self.cache_dir, "cache_dir", optional=True)

    @property
    def onnx(self) -> bool:
        return self.backend.startswith("onnx")

    @property
    def int8(self) -> bool:
        return self.backend.endswith("-int8")

    def cache_root(self) -> Path:
        """The folder the exported graphs go in."""
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        return Path(os.environ.get("KEAR_CACHE") or "~/.cache/kear").expanduser() / "onnx"


def inference_config(value: str | InferenceConfig | None) -> InferenceConfig:
    """An :class:`InferenceConfig` from a backend's name, a config, or ``None`` (the default, ``torch``).

    Raises:
        ConfigError: one line naming the bad value (``inference.backend must be one of ...``).
    """
    if isinstance(value, InferenceConfig):
        return value
    try:
        return InferenceConfig() if value is None else InferenceConfig(backend=value)
    except SettingError as error:
        raise ConfigError(f"inference.{error}") from None


def check_available(config: InferenceConfig) -> None:
    """Refuse, in one line with the install command, a backend whose optional dependencies are not installed.

    Args:
        config: the inference settings.
    """
    if not config.onnx:
        return
    needed = ["onnxruntime", *(["onnx"] if config.int8 else [])]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise KearError(
            f"inference backend '{config.backend}' needs {' and '.join(missing)}, which is not installed: "
            f"{ONNX_INSTALL}"
        )


# The models prepared so far, each with the state of its weights then: a model is prepared once per backend (an
# export, a quantisation), and again only if its weights change (training goes on, weights are loaded into it).
_PREPARED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, str | None], tuple[Any, nn.Module]]] = (
    weakref.WeakKeyDictionary()
)


def _weights_state(model: nn.Module) -> tuple:
    """Where each parameter's storage is and how often it was changed in place: cheap to read, and different
    after any optimizer step or weight load (``_version`` is torch's own in-place counter)."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def prepare(model: nn.Module, inference: str | InferenceConfig | None = None) -> nn.Module:
    """The model to score with under ``inference``: the model itself for ``torch``, otherwise a prepared copy (the
    model is not changed). Prepared once per model and backend and kept while the model lives and its weights do
    not change.

    Args:
        model: a :class:`kear.modeling.KearModel`, on the CPU for every backend but ``torch``.
        inference: a backend's name or an :class:`InferenceConfig` (``None``: ``torch``).

    Raises:
        KearError: a backend whose dependencies are missing (with the install command), a model not on the CPU,
            an encoder that cannot be exported, in one line.
    """
    config = inference_config(inference)
    if config.backend == "torch":
        return model
    check_available(config)
    device = next(model.parameters()).device
    if device.type != "cpu" and config.backend != "torch-bf16":
        raise KearError(f"inference backend '{config.backend}' runs on the CPU, and the model is on {device}")
    key = (config.backend, config.cache_dir)
    state = _weights_state(model)
    known = _PREPARED.setdefault(model, {})
    if key in known and known[key][0] == state:
        return known[key][1]
    if config.backend == "torch-bf16":
        prepared = _torch_bf16(model)
    elif config.backend == "torch-int8":
        prepared = _torch_int8(model)
    else:
        prepared = _onnx_model(model, config)
    known[key] = (state, prepared)
    return prepared


def _torch_bf16(model: nn.Module) -> nn.Module:
    """A copy of the model whose encoder runs in bfloat16 and hands fp32 hidden states to the head: the encoder's
    matrix products are nearly all of the work, and the head and scorer, which turn small differences between
    choices into an answer, keep full precision."""
    import torch

    warn_if_bf16_emulated(next(model.encoder.parameters()).device, "--inference torch-bf16")
    encoder = copy.deepcopy(model.encoder).to(torch.bfloat16).eval()
    return _with_encoder(model, _bf16_encoder_type()(encoder)).eval()


def warn_if_bf16_emulated(device: torch.device, setting: str) -> None:
    """One warning line when ``setting`` asks for bfloat16 on a CPU that only emulates it (see :func:`native_bf16`):
    the run goes on, many times slower than fp32."""
    if device.type == "cpu" and not native_bf16():
        logger.warning(
            f"this CPU has no native bfloat16 (AVX-512 BF16 or AMX): {setting} runs many times slower than fp32 here"
        )


def native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 matrix products natively on this CPU (torch's own check; private, so guarded:
    an unknown answer counts as yes, and only warnings depend on it). Without it bfloat16 is emulated: measured on
    an AVX2-only 2-core CPU, MiniLM's forward pass 5.3x slower than fp32, and a training step under bf16 autocast
    23x slower."""
    import torch

    check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else True
    except RuntimeError:
        return True


@functools.cache
def _bf16_encoder_type() -> type:
    """The module class that runs a bfloat16 encoder and returns fp32 hidden states, made on first use."""
    from torch import nn
    from transformers.modeling_outputs import BaseModelOutput

    class Bf16Encoder(nn.Module):
        def __init__(self, encoder: nn.Module) -> None:
            super().__init__()
            self.inner = encoder
            self.config = encoder.config

        def forward(self, **inputs: torch.Tensor) -> BaseModelOutput:
            hidden = self.inner(**inputs).last_hidden_state
            return BaseModelOutput(last_hidden_state=hidden.float())

    return Bf16Encoder


def _torch_int8(model: nn.Module) -> nn.Module:
    """A copy of the model with every linear layer dynamically quantised to int8 (weights per output channel:
    closer to fp32 than one scale per tensor, at about the same speed)."""
    import torch
    from torch import nn

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as error:
        raise KearError(
            f"inference backend 'torch-int8' needs torch.ao.quantization, which torch {torch.__version__} lacks "
            f"({first_line(error)}); use onnx-int8"
        ) from None
    with warnings.catch_warnings():
        # torch announces that this API moves to torchao, once per call; it works as it is, and is what we want
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(copy.deepcopy(model), {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
    return quantized.eval()


def _with_encoder(model: nn.Module, encoder: nn.Module) -> nn.Module:
    """A shallow copy of the model whose ``encoder`` is ``encoder``: the head and scorer are the model's own, and
    its ``forward`` and ``encode`` run unchanged around the new encoder."""
    clone = copy.copy(model)
    # nn.Module keeps its children in a dictionary that a shallow copy shares: give the copy its own
    clone._modules = dict(model._modules)
    clone._modules["encoder"] = encoder
    return clone


def _onnx_model(model: nn.Module, config: InferenceConfig) -> nn.Module:
    encoder = model.encoder
    folder = config.cache_root() / fingerprint(encoder)
    fp32 = _exported(encoder, folder)
    path = _quantized(fp32) if config.int8 else fp32
    return _with_encoder(model, onnx_encoder(path))


def fingerprint(encoder: nn.Module) -> str:
    """What an exported graph depends on, hashed: the encoder's config, every byte of its weights, the export's
    format and opset, and the torch and onnxruntime versions. Two encoders share it only if they are the same."""
    import onnxruntime
    import torch

    digest = hashlib.sha256()
    digest.update(json.dumps([EXPORT_FORMAT, OPSET, torch.__version__, onnxruntime.__version__]).encode())
    digest.update(encoder.config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        data = tensor.detach().cpu().contiguous()
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()[:40]


def _input_names(encoder: nn.Module) -> list[str]:
    """The encoder's inputs the graph takes: token types only when the encoder has token-type embeddings."""
    names = ["input_ids", "attention_mask"]
    takes_types = "token_type_ids" in inspect.signature(encoder.forward).parameters
    if takes_types and (getattr(encoder.config, "type_vocab_size", 0) or 0) > 0:
        names.append("token_type_ids")
    return names


def _hidden_states(encoder: nn.Module, names: list[str]) -> nn.Module:
    """The encoder as a function of positional tensors to its last hidden states: what the exporter traces."""
    from torch import nn

    class HiddenStates(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.encoder(**dict(zip(names, tensors))).last_hidden_state

    return HiddenStates().eval()


def _probe(encoder: nn.Module, names: list[str]) -> tuple[torch.Tensor, ...]:
    """Inputs to trace and check the export with: two sequences, the second padded, token types of both kinds."""
    import torch

    vocab = int(getattr(encoder.config, "vocab_size", 100) or 100)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(min(5, vocab - 1), vocab, (2, 16), generator=generator)
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 9:] = 0  # a padded row, so that the mask is traced as data, never as a constant
    types = torch.zeros(2, 16, dtype=torch.long)
    if getattr(encoder.config, "type_vocab_size", 0) > 1:
        types[:, 8:] = 1
    values = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return tuple(values[name] for name in names)


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """The exporter's and the quantiser's warnings (tracer notes, advice to pre-process) hidden: they are about
    choices made here, checked by comparing outputs. onnxruntime's quantiser logs on the root logger."""
    root = logging.getLogger()
    level = root.level
    # logging.warning() on a root logger without handlers would install one for good (logging.basicConfig)
    placeholder = logging.NullHandler() if not root.handlers else None
    if placeholder is not None:
        root.addHandler(placeholder)
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
        if placeholder is not None:
            root.removeHandler(placeholder)


def _exported(encoder: nn.Module, folder: Path) -> Path:
    """The encoder's fp32 graph in ``folder`` (exported and checked first if it is not there)."""
    import torch

    path = folder / "encoder.onnx"
    if path.is_file():
        return path
    folder.parent.mkdir(parents=True, exist_ok=True)
    names = _input_names(encoder)
    probe = _probe(encoder, names)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        logger.info("exporting the encoder to ONNX (once: it is cached in %s)", folder)
        wrapper = _hidden_states(encoder, names)
        was_training = encoder.training
        axes = {name: {0: "sequences", 1: "tokens"} for name in [*names, "last_hidden_state"]}
        try:
            with _quiet_libraries(), torch.no_grad():
                torch.onnx.export(
                    wrapper,
                    probe,
                    str(staging / "encoder.onnx"),
                    input_names=names,
                    output_names=["last_hidden_state"],
                    dynamic_axes=axes,
                    opset_version=OPSET,
                    do_constant_folding=True,
                    dynamo=False,  # the tracing exporter: no onnxscript needed, and dynamic axes as declared
                )
        except Exception as error:  # the exporter raises many types for an architecture it cannot trace
            raise KearError(
                f"cannot export encoder '{encoder.config.model_type}' to ONNX ({type(error).__name__}: "
                f"{first_line(error)}); use --inference torch or torch-int8"
            ) from None
        finally:
            encoder.train(was_training)  # the exporter puts modes back as it found them; make sure of it
        _check_export(staging / "encoder.onnx", encoder, names, probe)
        (staging / "meta.json").write_text(
            json.dumps({"model_type": encoder.config.model_type, "inputs": names, "torch": torch.__version__}),
            encoding="utf-8",
        )
        try:
            os.replace(staging, folder)  # the whole folder appears at once
        except OSError:
            if not path.is_file():  # not another run that exported the same encoder meanwhile
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _check_export(path: Path, encoder: nn.Module, names: list[str], probe: tuple[torch.Tensor, ...]) -> None:
    """Refuse a graph whose hidden states (on the probe's real tokens) are not the encoder's."""
    import numpy as np
    import torch

    session = _session(path)
    got = session.run(None, {name: tensor.numpy() for name, tensor in zip(names, probe)})[0]
    with torch.no_grad():
        expected = encoder(**dict(zip(names, probe))).last_hidden_state.numpy()
    real = probe[names.index("attention_mask")].numpy().astype(bool)
    gap = float(np.abs(got - expected)[real].max())
    if not gap <= EXPORT_TOLERANCE * max(1.0, float(np.abs(expected[real]).max())):
        raise KearError(
            f"the ONNX export of encoder '{encoder.config.model_type}' does not reproduce it (hidden states differ "
            f"by up to {gap:.3g}); use --inference torch or torch-int8"
        )


def _quantized(fp32: Path) -> Path:
    """The int8 graph beside ``fp32`` (quantised first if it is not there)."""
    path = fp32.with_name("encoder-int8.onnx")
    if path.is_file():
        return path
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logger.info("quantising the ONNX encoder to int8 (once: it is cached in %s)", fp32.parent)
    staging = path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")
    try:
        with _quiet_libraries():
            quantize_dynamic(
                str(fp32),
                str(staging),
                weight_type=QuantType.QInt8,
                per_channel=True,  # one scale per output channel: cosine 0.996 to fp32 against 0.983 per tensor
                # the exported graph has no shapes for its intermediate tensors; they are all float
                extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
            )
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path


def _session(path: Path) -> Any:
    """An ONNX Runtime session on the CPU, with the threads PyTorch uses, one operator at a time, idle threads
    asleep."""
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its warnings are about graph rewrites it chose
    # Idle threads sleep instead of spinning: with anything else running (a retrieval, another job), spinning
    # threads burn the time slices the working ones need; measured here under load, int8 ran 2.5x eager torch
    # without spinning and 1.75x with it.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own error types
        raise KearError(
            f"{path}: ONNX Runtime cannot load it ({first_line(error)}); delete it to export again"
        ) from None


def onnx_encoder(path: str | Path) -> nn.Module:
    """An exported encoder run by ONNX Runtime, called as the PyTorch encoder is (keyword tensors in, an output
    with ``last_hidden_state`` out), so that :class:`kear.modeling.KearModel` runs it unchanged.

    Args:
        path: the ``.onnx`` graph (from :func:`prepare`).
    """
    return _onnx_encoder_type()(path)


@functools.cache
def _onnx_encoder_type() -> type:
    """The module class of :func:`onnx_encoder`, made on first use (an ``nn.Module``: torch is loaded then)."""
    import numpy as np
    import torch
    from torch import nn
    from transformers.modeling_outputs import BaseModelOutput

    class OnnxEncoder(nn.Module):
        def __init__(self, path: str | Path) -> None:
            super().__init__()
            self.path = Path(path)
            self.session = _session(self.path)
            self.names = [item.name for item in self.session.get_inputs()]

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
        ) -> BaseModelOutput:
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            if given["token_type_ids"] is None:
                given["token_type_ids"] = torch.zeros_like(input_ids)  # what the encoder assumes without them
            # ONNX Runtime reads contiguous int64 arrays; kear's buckets are slices of the batch
            feed = {
                name: np.ascontiguousarray(given[name].detach().cpu().numpy(), dtype=np.int64) for name in self.names
            }
            return BaseModelOutput(last_hidden_state=torch.from_numpy(self.session.run(None, feed)[0]))

    return OnnxEncoder
