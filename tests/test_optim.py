from __future__ import annotations

import pytest
import torch

from kear.config import TrainingConfig
from kear.modeling import KearModel
from kear.optim import build_optimizer, build_scheduler, parameter_groups


@pytest.fixture(scope="module")
def model(tiny_deberta) -> KearModel:
    return KearModel.from_encoder(str(tiny_deberta))


def test_no_weight_decay_on_biases_and_norms(model: KearModel) -> None:
    groups = parameter_groups(model, 1e-3, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in groups:
        for parameter in group["params"]:
            name = names[id(parameter)]
            undecayed = name.endswith("bias") or "LayerNorm" in name
            assert group["weight_decay"] == (0.0 if undecayed else 0.1), name
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_layerwise_learning_rate_decay(model: KearModel) -> None:
    groups = parameter_groups(model, 1.0, 0.0, layer_decay=0.5)
    names = {id(p): n for n, p in model.named_parameters()}
    rates = {names[id(p)]: g["lr"] for g in groups for p in g["params"]}
    assert rates["scorer.weight"] == 1.0
    assert rates["encoder.encoder.layer.1.attention.self.query_proj.weight"] == 0.5
    assert rates["encoder.encoder.layer.0.attention.self.query_proj.weight"] == 0.25
    assert rates["encoder.embeddings.word_embeddings.weight"] == 0.125


def test_warmup_then_decay(model: KearModel) -> None:
    settings = TrainingConfig(learning_rate=1.0, warmup_ratio=0.2, scheduler="linear")
    optimizer = build_optimizer(model, settings)
    scheduler = build_scheduler(optimizer, settings, total_steps=10)
    rates = []
    for _ in range(10):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[:3] == [0.0, 0.5, 1.0] and rates[-1] == pytest.approx(0.125)
    with pytest.raises(ValueError, match="unknown scheduler"):
        build_scheduler(optimizer, TrainingConfig(scheduler="zigzag"), 10)
    assert isinstance(optimizer, torch.optim.AdamW)
