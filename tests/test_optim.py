from __future__ import annotations

import pytest
import torch

from kear.config import SCHEDULERS, UNSUPPORTED_SCHEDULERS, TrainingConfig
from kear.modeling import KearModel
from kear.optim import build_optimizer, build_scheduler, parameter_groups
from retrieval.settings import SettingError


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
    assert isinstance(optimizer, torch.optim.AdamW)
    # an unknown name is refused when the settings are built, long before a scheduler is
    with pytest.raises(SettingError, match="scheduler must be one of linear, cosine"):
        TrainingConfig(scheduler="zigzag")
    settings.scheduler = "zigzag"  # changed after the check: still refused, by the builder
    with pytest.raises(ValueError, match="unknown scheduler"):
        build_scheduler(optimizer, settings, 10)


def test_scheduler_names_are_transformers_own() -> None:
    """Every name of transformers' ``SchedulerType`` is either run (under kear's name) or refused with a reason;
    a transformers release that adds one fails here until it is decided."""
    from transformers import SchedulerType

    names = {kind.value for kind in SchedulerType}
    assert set(SCHEDULERS.values()) <= names
    assert names <= set(SCHEDULERS) | set(UNSUPPORTED_SCHEDULERS)
    assert not set(SCHEDULERS) & set(UNSUPPORTED_SCHEDULERS)
    for name, reason in UNSUPPORTED_SCHEDULERS.items():
        with pytest.raises(SettingError, match=f"'{name}' is not supported: {reason}"):
            TrainingConfig(scheduler=name)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_accepted_scheduler_runs_with_warmup(name: str) -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=1.0)
    scheduler = build_scheduler(optimizer, TrainingConfig(learning_rate=1.0, warmup_ratio=0.2, scheduler=name), 10)
    rates = []
    for _ in range(10):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()  # as kear's loop steps it: once per optimizer step, no metric
    assert rates[:2] == [0.0, 0.5]  # every schedule starts with the warmup, ``constant`` included
    assert all(0 <= rate <= 1.0 for rate in rates)


def test_polynomial_needs_a_peak_above_its_end() -> None:
    with pytest.raises(SettingError, match="learning_rate must be above 1e-07"):
        TrainingConfig(scheduler="polynomial", learning_rate=1e-8)


def test_adamw_runs_fused(model: KearModel) -> None:
    # one kernel per step instead of a dozen passes per tensor: what Trainer uses too (adamw_torch_fused)
    assert build_optimizer(model, TrainingConfig()).defaults["fused"] is True
