"""LoRA adapters through peft: put on the encoder with one-line errors, saved and read back in peft's format.

A LoRA run trains low-rank adapters on the encoder (the head and scorer in full). What it writes:

* ``best/``: the adapters merged into a whole model (:func:`kear.modeling.save_model`), which ``kear predict``
  reads; with ``lora.save=both`` also ``best/adapter/``, the adapter alone in peft's format
  (``adapter_config.json`` + ``adapter_model.safetensors``), which ``peft.PeftModel.from_pretrained(encoder,
  folder)`` puts over the pretrained encoder;
* ``checkpoint/``: the merged model too (so that it is a model folder as well), and always ``checkpoint/adapter/``,
  from which a resumed run gets its adapters back exactly (the encoder's own weights are frozen: they come back
  from the pretrained encoder).

The adapter lives in a subfolder, never beside the model's ``config.json``: transformers takes a folder holding
``adapter_config.json`` for an adapter and would load its base model instead of kear's.

peft is imported only when LoRA is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from retrieval.errors import ConfigError, first_line

if TYPE_CHECKING:
    from .config import LoraConfig
    from .modeling import KearModel

# the adapter's folder inside a model or checkpoint folder, and peft's names for its files
ADAPTER = "adapter"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# what an error shows of the layers an encoder has
SHOWN_LAYERS = 12
# the layers of an encoder that LoRA adapts (peft's own list adds layers that encoders do not have)
ADAPTABLE = (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def has_adapters(model: nn.Module) -> bool:
    """Whether ``model`` (a :class:`kear.modeling.KearModel`) has LoRA adapters on its encoder."""
    return hasattr(getattr(model, "encoder", None), "peft_config")


def apply_lora(model: KearModel, settings: LoraConfig) -> None:
    """Put LoRA adapters on ``model``'s encoder as ``settings`` say (the encoder's own weights are frozen).

    Args:
        model: the model, its encoder not yet adapted.
        settings: the ``lora`` settings (rank, alpha, dropout, target modules).

    Raises:
        ConfigError: in one line naming the setting: a rank above what the adapted layers hold, target modules
            that name no layer or a layer LoRA cannot adapt, or an encoder type peft has no default layers for.
    """
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    encoder = model.encoder
    _check_rank_fits_encoder(encoder, settings.r)
    _check_targets_exist(encoder, settings.target_modules)
    adapter = PeftLoraConfig(
        r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=settings.target_modules
    )
    try:
        model.encoder = get_peft_model(encoder, adapter)
    except ValueError as error:  # peft's word for all of these (NoMatchingPeftModuleError is one)
        raise ConfigError(_target_problem(encoder, settings.target_modules, error)) from None
    _check_rank_fits_layers(model.encoder, settings.r)


def _check_rank_fits_encoder(encoder: nn.Module, rank: int) -> None:
    """Refuse a rank above the encoder's width before peft allocates adapters of that size (a rank of a million
    would take all memory before any error)."""
    hidden = getattr(getattr(encoder, "config", None), "hidden_size", None)
    if isinstance(hidden, int) and rank > hidden:
        raise ConfigError(
            f"lora.r: {rank} is more than the encoder's hidden size ({hidden}): an adapter of that rank is no "
            f"smaller than the layer it adapts; choose r <= {hidden}"
        )


def _check_rank_fits_layers(encoder: nn.Module, rank: int) -> None:
    """Refuse a rank above the width of an adapted layer: its adapter would hold more than the layer itself."""
    from peft.tuners.lora import LoraLayer

    for name, module in encoder.named_modules():
        if isinstance(module, LoraLayer):
            width = min(module.in_features, module.out_features)
            if rank > width:
                raise ConfigError(
                    f"lora.r: {rank} is more than adapted layer {name.rsplit('.', 1)[-1]} takes ({module.in_features} "
                    f"in, {module.out_features} out); choose r <= {width}, or other lora.target_modules"
                )


def _layer_names(encoder: nn.Module) -> list[str]:
    """The last names of the encoder's linear and embedding layers (what target modules may name), each once."""
    names = dict.fromkeys(
        name.rsplit(".", 1)[-1]
        for name, module in encoder.named_modules()
        if isinstance(module, (nn.Linear, nn.Embedding))
    )
    return list(names)


def _shown_layers(encoder: nn.Module) -> str:
    """The encoder's layers that LoRA adapts, as an error shows them (the first few)."""
    layers = _layer_names(encoder)
    return ", ".join(layers[:SHOWN_LAYERS]) + (", ..." if len(layers) > SHOWN_LAYERS else "")


def _matches(encoder: nn.Module, target: str) -> list[nn.Module]:
    """The encoder's modules a target module name selects, as peft selects them (the name, or its dotted tail)."""
    return [module for name, module in encoder.named_modules() if name == target or name.endswith(f".{target}")]


def _check_targets_exist(encoder: nn.Module, targets: list[str] | None) -> None:
    """Refuse a target module name that selects nothing: peft refuses only names that all select nothing, so one
    mistyped name among good ones would leave its layers unadapted without a word."""
    for target in targets or ():
        if not _matches(encoder, target):
            raise ConfigError(
                f"lora.target_modules: '{target}' names no layer of this encoder (its layers: {_shown_layers(encoder)})"
            )


def _target_problem(encoder: nn.Module, targets: list[str] | None, error: ValueError) -> str:
    """One line for peft's refusal of ``targets`` on ``encoder``, naming the setting and layers that would do."""
    shown = _shown_layers(encoder)
    if targets is None:
        kind = getattr(getattr(encoder, "config", None), "model_type", "?")
        return (
            f"lora.target_modules: peft has no default layers for encoder type '{kind}'; name them (its layers: "
            f"{shown})"
        )
    for target in targets:
        refused = next((m for m in _matches(encoder, target) if not isinstance(m, ADAPTABLE)), None)
        if refused is not None and "not supported" in str(error):
            return (
                f"lora.target_modules: '{target}' is a {type(refused).__name__}, which LoRA cannot adapt (it adapts "
                f"linear, embedding and convolution layers; this encoder's: {shown})"
            )
    return f"lora.target_modules: {', '.join(targets)}: {first_line(error)} (this encoder's layers: {shown})"


def save_adapter(model: KearModel, folder: str | Path) -> None:
    """Write ``model``'s adapter alone, in peft's format, into ``folder`` (created).

    Args:
        model: a model with adapters (:func:`has_adapters`).
        folder: where ``adapter_config.json`` and ``adapter_model.safetensors`` go.
    """
    folder = Path(folder)
    # kear never resizes the vocabulary, so the embeddings are the base encoder's: peft's "auto" would save them
    # whole when LoRA targets them (and ask the Hub whether the base encoder's config says otherwise)
    model.encoder.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
    # peft writes a blank model card beside them; the model's own card is kear push's
    (folder / "README.md").unlink(missing_ok=True)


def load_adapter(model: KearModel, folder: str | Path) -> None:
    """Put the adapter weights saved in ``folder`` (by :func:`save_adapter`) into ``model``'s adapters.

    Args:
        model: a model with adapters of the same layout (the same rank and target modules).
        folder: the adapter's folder.

    Raises:
        RuntimeError: the folder holds the adapter of another layout (other layers, another rank).
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    result = set_peft_model_state_dict(model.encoder, load_file(str(Path(folder) / ADAPTER_WEIGHTS)))
    missing = [key for key in result.missing_keys if "lora_" in key]
    if result.unexpected_keys or missing:
        different = (result.unexpected_keys or missing)[0]
        raise RuntimeError(f"the adapter in {folder} does not fit this model's adapters ({different})")
