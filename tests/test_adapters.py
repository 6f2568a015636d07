"""LoRA through peft (kear.adapters): the adapter saved alone in peft's format, checkpoints that resume it and load
as models, and one-line errors for target modules and ranks peft would refuse or take badly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kear.adapters import apply_lora
from kear.config import LoraConfig, TrainConfig
from kear.modeling import KearModel
from kear.training import train
from retrieval import ConfigError, load_settings

from .conftest import write_lines
from .test_training import settings

TARGETS = "[query_proj, value_proj]"


def _encoder_outputs(encoder: torch.nn.Module, tokenizer) -> torch.Tensor:
    encoder.eval()
    batch = tokenizer(["where is milk kept", "a fridge keeps it cold"], padding=True, return_tensors="pt")
    with torch.no_grad():
        return encoder(**batch).last_hidden_state


def test_an_adapter_saved_alone_goes_back_over_the_base_encoder(tiny_deberta, sample_knowledge, tmp_path: Path):
    from accelerate import Accelerator
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModel

    from kear.checkpoint import load_checkpoint
    from kear.modeling import load_model, merged_copy
    from kear.optim import build_optimizer, build_scheduler

    run = tmp_path / "run"
    lines = sample_knowledge.read_text().splitlines()
    lora = ["lora.enabled=true", "lora.r=4", "lora.alpha=8", f"lora.target_modules={TARGETS}", "lora.save=both"]
    extra = [f"data.train={write_lines(tmp_path / 'train.jsonl', lines[:8])}", "data.dev=null"]
    extra += ["training.max_steps=1", "training.learning_rate=3e-2", *lora]
    config = load_settings(TrainConfig, None, [*settings(tiny_deberta, sample_knowledge, run), *extra])
    train(config, progress=False)

    # best/ is the merged model kear predict reads; best/adapter/ the adapter alone, in peft's format
    assert sorted(p.name for p in (run / "best" / "adapter").iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    trained, tokenizer = load_model(run / "best")
    base = AutoModel.from_pretrained(tiny_deberta)
    before = _encoder_outputs(base, tokenizer)
    adapted = PeftModel.from_pretrained(base, run / "best" / "adapter")
    after = _encoder_outputs(trained.encoder, tokenizer)
    assert not torch.allclose(before, after, atol=1e-4)  # the adapter changed the encoder
    torch.testing.assert_close(_encoder_outputs(adapted, tokenizer), after, atol=1e-5, rtol=1e-4)

    # the checkpoint is a model folder too (the adapters merged in), and its adapter/ brings them back exactly
    checkpoint = run / "checkpoint"
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()
    load_model(checkpoint)
    model = KearModel.from_encoder(tiny_deberta, inputs={"max_length": 64})
    apply_lora(model, config.lora)
    optimizer = build_optimizer(model, config.training)
    scheduler = build_scheduler(optimizer, config.training, 1)
    state, _ = load_checkpoint(checkpoint, Accelerator(cpu=True), model, optimizer, scheduler)
    assert state["global_step"] == 1
    merged = merged_copy(model).state_dict()
    saved = load_file(checkpoint / "model.safetensors")
    assert merged.keys() == saved.keys()
    for key, value in saved.items():
        torch.testing.assert_close(merged[key], value, atol=1e-6, rtol=1e-5)
    assert json.loads((run / "results.json").read_text())["global_step"] == 1


@pytest.fixture(scope="module")
def bare_model(tiny_deberta) -> KearModel:
    """The tiny encoder with a head, never adapted (each test adapts a copy)."""
    return KearModel.from_encoder(tiny_deberta)


BAD_LORA = {
    "a name no layer has": (
        {"target_modules": ["nope"]},
        "lora.target_modules: 'nope' names no layer of this encoder (its layers: word_embeddings, ",
    ),
    "one good name beside a mistyped one": (
        {"target_modules": ["query_proj", "valeu_proj"]},
        "lora.target_modules: 'valeu_proj' names no layer",
    ),
    "a layer LoRA cannot adapt": (
        {"target_modules": ["LayerNorm"]},
        "lora.target_modules: 'LayerNorm' is a LayerNorm, which LoRA cannot adapt",
    ),
    "a block rather than a layer": (
        {"target_modules": ["embeddings"]},
        "lora.target_modules: 'embeddings' is a DebertaV2Embeddings, which LoRA cannot adapt",
    ),
    "a rank above the encoder's width": (
        {"r": 1000, "target_modules": ["query_proj"]},
        "lora.r: 1000 is more than the encoder's hidden size (32)",
    ),
}


@pytest.mark.parametrize("case", BAD_LORA, ids=list(BAD_LORA))
def test_bad_target_modules_and_ranks_are_one_line(case: str, bare_model: KearModel) -> None:
    import copy

    changes, message = BAD_LORA[case]
    with pytest.raises(ConfigError) as caught:
        apply_lora(copy.deepcopy(bare_model), LoraConfig(enabled=True, **changes))
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_rank_above_a_narrow_adapted_layer_is_refused_and_one_that_fits_is_not() -> None:
    from transformers import AutoConfig

    from kear.modeling import KearConfig

    # ELECTRA's embeddings are narrower than its hidden layers: 16 against 32 here
    encoder = AutoConfig.for_model(
        "electra", vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    with pytest.raises(
        ConfigError, match=r"^lora.r: 24 is more than adapted layer word_embeddings takes \(100 in, 16 out\)"
    ):
        apply_lora(KearModel(KearConfig(encoder=encoder)), LoraConfig(r=24, target_modules=["word_embeddings"]))
    model = KearModel(KearConfig(encoder=encoder))
    apply_lora(model, LoraConfig(r=16, target_modules=["word_embeddings"]))
    assert any("lora_embedding_A" in name for name, _ in model.named_parameters())


def test_an_encoder_type_without_peft_defaults_asks_for_target_modules() -> None:
    from transformers import AutoConfig

    from kear.modeling import KearConfig

    encoder = AutoConfig.for_model(
        "mpnet", vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    with pytest.raises(ConfigError) as caught:
        apply_lora(KearModel(KearConfig(encoder=encoder)), LoraConfig(r=4))
    assert str(caught.value) == (
        "lora.target_modules: peft has no default layers for encoder type 'mpnet'; name them (its layers: "
        "word_embeddings, position_embeddings, q, k, v, o, dense, relative_attention_bias)"
    )


def test_a_bad_target_module_stops_kear_train_in_one_line(tiny_deberta, sample_knowledge, tmp_path, capsys) -> None:
    from kear.cli import main

    lora = ["lora.enabled=true", "lora.target_modules=[LayerNorm]", "training.max_steps=1"]
    assert main(["train", *settings(tiny_deberta, sample_knowledge, tmp_path / "run", *lora)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kear: error: lora.target_modules: 'LayerNorm' is a LayerNorm") and err.count("\n") == 1
    assert not (tmp_path / "run" / "best").exists()
