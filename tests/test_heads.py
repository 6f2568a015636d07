from __future__ import annotations

import json

import pytest
import torch

from kear.cli import main
from kear.heads import HEADS, build_head
from kear.heads.ops import double_normalize
from retrieval.errors import ConfigError

from .conftest import run_model

HIDDEN = 32
SETTINGS = {  # heads must divide the tiny hidden size
    "first_token": {},
    "eanet": {"slots": 16, "heads": 4},
    "rtformer": {"memory_ratio": 0.25, "heads": 4},
    "agmh_siea": {"slots": 16, "dispersion_weight": 0.1},
    "lea_gcn": {"slots": 16, "heads": 4},
    "self_attention": {"heads": 4},
}
VARIANTS = [(name, settings) for name, settings in SETTINGS.items()] + [
    ("eanet", {"slots": 8, "heads": 1, "pooling": "first"}),
    ("rtformer", {"memory_ratio": 0.125, "heads": 2}),
    ("rtformer", {"memory_ratio": 1.0, "heads": 8}),
    ("rtformer", {"memory_ratio": 0.5, "grouped": True, "groups": 4}),
]


def test_every_registered_head_is_covered() -> None:
    assert set(HEADS) == set(SETTINGS)


def test_unknown_heads_and_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown head 'nope'; choose from agmh_siea"):
        build_head("nope", HIDDEN)
    with pytest.raises(ConfigError, match=r"unknown setting.* slotz for head 'eanet'; it takes eps, heads"):
        build_head("eanet", HIDDEN, {"slotz": 8})


@pytest.mark.parametrize(("name", "settings"), VARIANTS, ids=lambda v: str(v))
def test_padding_changes_nothing(name: str, settings: dict) -> None:
    torch.manual_seed(0)
    head = build_head(name, HIDDEN, settings).eval()
    short, long = torch.randn(1, 5, HIDDEN), torch.randn(1, 9, HIDDEN)
    batch = torch.randn(2, 12, HIDDEN) * 50  # padding full of large noise
    batch[0, :5], batch[1, :9] = short[0], long[0]
    mask = torch.zeros(2, 12, dtype=torch.long)
    mask[0, :5], mask[1, :9] = 1, 1
    with torch.no_grad():
        padded = head(batch, mask).pooled
        alone = torch.cat([head(short, torch.ones(1, 5)).pooled, head(long, torch.ones(1, 9)).pooled])
    assert padded.shape == (2, HIDDEN)
    torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "settings"), VARIANTS, ids=lambda v: str(v))
def test_every_head_parameter_gets_a_gradient(name: str, settings: dict) -> None:
    # a parameter without a gradient stops multi-process (DDP) training
    torch.manual_seed(0)
    head = build_head(name, HIDDEN, settings).train()
    states = torch.randn(2, 9, HIDDEN, requires_grad=True)
    output = head(states, torch.tensor([[1] * 9, [1] * 4 + [0] * 5]))
    loss = output.pooled.square().mean() + (0 if output.aux_loss is None else output.aux_loss)
    loss.backward()
    assert [n for n, p in head.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize(
    ("name", "settings"), [v for v in VARIANTS if v[0] not in ("first_token", "self_attention")], ids=lambda v: str(v)
)
def test_double_normalisation(name: str, settings: dict) -> None:
    torch.manual_seed(0)
    head = build_head(name, HIDDEN, settings)
    states = torch.randn(2, 7, HIDDEN)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # under mixed precision the maps stay in float32
        over_tokens, over_slots = head.maps(states, mask)
    assert over_tokens.dtype == torch.float32
    per_slot = over_tokens.sum(dim=-2)  # each slot's weights over the real tokens
    torch.testing.assert_close(per_slot, torch.ones_like(per_slot))
    tokens_of_second = over_tokens[1, ..., 3:, :]  # the second sequence's padded tokens get no weight
    assert tokens_of_second.abs().max() == 0
    groups = settings.get("groups", 1) if settings.get("grouped") else 1
    per_token = over_slots.unflatten(-1, (groups, -1)).sum(-1)  # each token's weights over its group's slots
    real = mask.bool()[:, None, :, None] if per_token.dim() == 4 else mask.bool()[:, :, None]
    torch.testing.assert_close(
        per_token.masked_select(real), torch.ones_like(per_token.masked_select(real)), atol=1e-4, rtol=0
    )


def test_double_normalise_function() -> None:
    scores = torch.randn(3, 6, 8)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5])
    over_tokens, over_slots = double_normalize(scores, mask, groups=2)
    torch.testing.assert_close(over_tokens.sum(1), torch.ones(3, 8))
    assert over_tokens[1, 4:].abs().max() == 0 and over_tokens[2, 0].min() == 1
    torch.testing.assert_close(over_slots.unflatten(-1, (2, 4)).sum(-1)[0], torch.ones(6, 2), atol=1e-5, rtol=0)


def test_rtformer_memory_size_is_a_ratio_of_the_hidden_size() -> None:
    for ratio, slots in ((0.125, 4), (0.25, 8), (1.0, 32)):
        head = build_head("rtformer", HIDDEN, {"memory_ratio": ratio, "heads": 4})
        assert head.memory.key.out_features == slots and head.memory.key.in_features == HIDDEN // 4
    grouped = build_head("rtformer", HIDDEN, {"memory_ratio": 0.5, "grouped": True, "groups": 4})
    assert grouped.memory.key.in_features == HIDDEN and grouped.memory.groups == 4


def test_dispersion_loss_penalises_overlap() -> None:
    torch.manual_seed(0)
    head = build_head("agmh_siea", HIDDEN, {"slots": 8, "descriptors": 3, "dispersion_weight": 1.0})
    output = head(torch.randn(2, 6, HIDDEN), torch.ones(2, 6))
    assert output.aux_loss is not None and output.aux_loss > 0
    output.aux_loss.backward()
    assert head.descriptors.grad is not None
    assert build_head("agmh_siea", HIDDEN, {"slots": 8})(torch.randn(1, 4, HIDDEN), torch.ones(1, 4)).aux_loss is None


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_heads_train_save_load_and_predict_through_the_cli(name, tiny_deberta, sample_knowledge, tmp_path) -> None:
    settings = json.dumps(SETTINGS[name])  # JSON is YAML, as overrides are read
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--no-progress",
                f"model.name_or_path={tiny_deberta}",
                f"data.train={sample_knowledge}",
                "inputs.max_length=48",
                f"training.output_dir={run}",
                "training.max_steps=2",
                "training.batch_size=4",
                f"model.head={name}",
                f"model.head_settings={settings}",
            ]
        )
        == 0
    )
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["head"] == name and config["head_settings"] == SETTINGS[name]
    out = tmp_path / "predictions.jsonl"
    assert run_model("predict", run / "best", sample_knowledge, out) == 0
    assert len(out.read_text().splitlines()) == 12
