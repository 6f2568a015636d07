"""Every settings dataclass checks its values when built: a bad value is one line through ``kear``, before any data
or model is read."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from kear.cli import main
from kear.config import DataConfig, LoraConfig, ModelConfig, TrainConfig, TrainingConfig
from kear.demo import DemoSettings
from kear.heads import HEADS
from kear.inputs import MAX_LENGTH, InputConfig
from retrieval import ConfigError, RetrievalConfig, load_settings
from retrieval.settings import SettingError

REPO = Path(__file__).resolve().parents[1]
# The model is nowhere: were the settings accepted, the error would be about the model (or the data) instead.
NOWHERE = "./no/such/encoder"


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``kear`` in this process; it must fail with exactly one line on stderr, which is returned."""
    assert main(argv) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kear: error: "), lines
    return lines[0]


# one bad override for kear train, and the words the message must hold
BAD_TRAINING = {
    "training.logging_steps=0": "training.logging_steps must be an integer >= 1, got 0",
    "training.learning_rate=nan": "training.learning_rate must be a finite number > 0, got nan",
    "training.learning_rate=.nan": "training.learning_rate must be a finite number > 0, got nan",
    "training.learning_rate=inf": "training.learning_rate must be a finite number > 0, got inf",
    "training.learning_rate=-1e-5": "training.learning_rate must be a finite number > 0, got -1e-05",
    "training.learning_rate=0": "training.learning_rate must be a finite number > 0, got 0.0",
    "training.batch_size=0": "training.batch_size must be an integer >= 1, got 0",
    "training.eval_batch_size=0": "training.eval_batch_size",
    "training.gradient_accumulation_steps=0": "training.gradient_accumulation_steps",
    "training.scheduler=zigzag": "training.scheduler must be one of linear, cosine",
    "training.scheduler=reduce_lr_on_plateau": "training.scheduler 'reduce_lr_on_plateau' is not supported",
    "training.mixed_precision=fp12": "training.mixed_precision must be one of no, fp16, bf16; got 'fp12'",
    "training.mixed_precision=false": "training.mixed_precision must be one of no, fp16, bf16; got 'False'",
    "training.max_steps=0": "training.max_steps must be an integer >= 1 (or null), got 0",
    "training.warmup_ratio=2": "training.warmup_ratio must be a finite number in [0, 1], got 2.0",
    "training.weight_decay=-0.1": "training.weight_decay",
    "training.adam_epsilon=0": "training.adam_epsilon",
    "training.layerwise_lr_decay=0": "training.layerwise_lr_decay must be a finite number in (0, 1]",
    "training.layerwise_lr_decay=1.5": "training.layerwise_lr_decay",
    "training.max_grad_norm=-1": "training.max_grad_norm",
    "training.save_steps=0": "training.save_steps must be an integer >= 1 (or null), got 0",
    "training.report_to=['']": "training.report_to entries must be non-empty strings",
    "training.report_to=[wandb, wandb]": "training.report_to lists 'wandb' twice",
    "training.report_to=3": "training.report_to must be a tracker's name, a list of names, none or all; got 3",
    "training.report_to=[none, wandb]": "training.report_to 'none' stands alone",
    "training.report_to=[all, wandb]": "training.report_to 'all' stands alone",
    "training.save_total_limit=0": "training.save_total_limit must be an integer >= 1 (or null), got 0",
    "training.eval_steps=0": "training.eval_steps must be an integer >= 1 (or null), got 0",
    "training.early_stopping_patience=0": "training.early_stopping_patience must be an integer >= 1 (or null)",
    "data.split=validation": "data.split is retired: set data.train_split (default train) and data.dev_split",
    "data.train_split=' '": "data.train_split must be a non-empty string",
    "data.dev_split=null": "data.dev_split",
    "data.allow_train_as_dev=maybe": "data.allow_train_as_dev",
    "training.num_workers=-1": "training.num_workers",
    "training.seed=-1": "training.seed must be an integer between 0 and 4294967295, got -1",
    "training.output_dir=' '": "training.output_dir must be a non-empty string",
    f"inputs.max_length={10**9}": f"inputs.max_length must be an integer between 8 and {MAX_LENGTH}",
    "inputs.max_length=2": "inputs.max_length must be an integer between 8 and 8192, got 2",
    "inputs.knowledge=[wikipedia]": "inputs.knowledge has unknown knowledge segment 'wikipedia'",
    "inputs.knowledge=[triple, triple]": "inputs.knowledge lists 'triple' twice",
    "inputs.max_examples=-1": "inputs.max_examples",
    "data.num_choices=1": "data.num_choices must be an integer >= 2 (or null), got 1",
    "data.max_train_records=0": "data.max_train_records",
    "data.max_dev_records=-3": "data.max_dev_records",
    "model.classifier_dropout=1.0": "model.classifier_dropout must be a finite number in [0, 1), got 1.0",
    "model.classifier_dropout=nan": "model.classifier_dropout",
    "model.length_buckets=0": "model.length_buckets",
    "model.head=nope": "model.head: unknown head 'nope'; choose from",
    "lora.dropout=1": "lora.dropout must be a finite number in [0, 1), got 1.0",
    "lora.alpha=0": "lora.alpha",
    "lora.target_modules=[]": "lora.target_modules must list at least one entry",
    "lora.save=adapter": "lora.save 'adapter' alone would leave best/ without a model kear predict can load",
    "lora.save=zip": "lora.save must be one of merged, both; got 'zip'",
    "retrieval.examples.top_k=0": "retrieval.examples.top_k must be an integer >= 1, got 0",
    "retrieval.examples.backend=elastic": "retrieval.examples.backend must be one of bm25s, rank_bm25",
    "retrieval.examples.b=2": "retrieval.examples.b",
    "retrieval.conceptnet.relations=[]": "retrieval.conceptnet.relations must list at least one entry",
    "retrieval.sources=[wiki]": "retrieval.sources has unknown source 'wiki'",
    "retrieval.batch_size=0": "retrieval.batch_size",
    "retrieval.dictionary.max_link_words=-1": "retrieval.dictionary.max_link_words",
}
# a head's bad settings: model.head=<head> model.head_settings=<settings>, and the words of the message
BAD_HEAD_SETTINGS = {
    "eanet": {
        "{slotz: 4}": "model.head_settings has unknown setting(s) slotz",
        "{slots: 0}": "model.head_settings.slots must be an integer >= 1",
        "{pooling: max}": "model.head_settings.pooling must be one of mean",
        "{eps: .nan}": "model.head_settings.eps must be a finite number > 0",
        "{slots: '64'}": "model.head_settings.slots must be an integer",
    },
    "rtformer": {
        "{memory_ratio: 0}": "model.head_settings.memory_ratio",
        "{grouped: yes}": "model.head_settings.grouped must be true or",
    },
    "self_attention": {
        "{dropout: 1}": "model.head_settings.dropout",
    },
    "agmh_siea": {
        "{descriptors: 0}": "model.head_settings.descriptors",
        "{dispersion_weight: -1}": "model.head_settings.dispersion",
    },
    "lea_gcn": {
        "{heads: 0}": "model.head_settings.heads",
    },
}
# a bad value that another setting must come before (the bad value comes last)
BAD_PAIRS = [
    (["training.max_steps=null", "training.epochs=-1"], "training.epochs must be a finite number > 0, got -1.0"),
    (["training.max_steps=5", "training.epochs=0"], "training.epochs must be a finite number > 0, got 0.0"),
    (["lora.enabled=true", "lora.r=0"], "lora.r must be an integer >= 1, got 0"),
    (["lora.enabled=false", "lora.save=both"], "lora.save 'both' saves LoRA adapters, but lora.enabled is false"),
]
# one bad override for kear retrieve, and for kear demo
BAD_RETRIEVAL = {
    "examples.top_k=0": "examples.top_k must be an integer >= 1, got 0",
    "examples.backend=elastic": "examples.backend must be one of bm25s, rank_bm25; got 'elastic'",
    "conceptnet.min_weight=nan": "conceptnet.min_weight must be a finite number >= 0, got nan",
    "sources=[conceptnet, conceptnet]": "sources lists 'conceptnet' twice",
    "examples.corpora=&a [*a]": "recursive alias *a",
}
BAD_DEMO = {
    "seeds=[]": "seeds must list at least one seed",
    "seeds=[1, 1]": "seeds lists a seed twice",
    "seeds=[1, -2]": "seeds[1] must be an integer between 0 and 4294967295, got -2",
    "epochs=0": "epochs must be an integer >= 1, got 0",
    "batch_size=0": "batch_size must be an integer >= 1",
    "learning_rate=nan": "learning_rate must be a finite number > 0, got nan",
    "max_length=4": "max_length must be an integer between 8 and 8192, got 4",
    "max_examples=-1": "max_examples must be an integer >= 0",
    "model=''": "model must be a non-empty string",
    "model=./no/such/encoder": "model: no such folder './no/such/encoder'",
}


def one_each(command: str, table: dict[str, str]) -> list[tuple[str, list[str], str]]:
    """Cases of ``command`` with one bad override each, from a table of ``override: message``."""
    return [(command, [override], message) for override, message in table.items()]


# (subcommand, overrides, the words the message must hold)
BAD_SETTINGS = [
    *one_each("train", BAD_TRAINING),
    *[
        ("train", [f"model.head={head}", f"model.head_settings={settings}"], message)
        for head, table in BAD_HEAD_SETTINGS.items()
        for settings, message in table.items()
    ],
    *[("train", overrides, message) for overrides, message in BAD_PAIRS],
    *one_each("retrieve", BAD_RETRIEVAL),
    *one_each("demo", BAD_DEMO),
]
# each subcommand's command line before the overrides, and the name of what it must not make ({out} in the line)
COMMANDS = {
    "train": (
        ["train", f"model.name_or_path={NOWHERE}", "data.train=./no/such/train.jsonl", "training.output_dir={out}"],
        "run",
    ),
    "retrieve": (["retrieve", "--input", "./no/such/input.jsonl", "--output", "{out}"], "out.jsonl"),
    # a bare name is not checked (it may be a packaged model's or a Hub id): the bad value must win over it
    "demo": (["demo", "--workdir", "{out}", "model=no-such-model"], "work"),
}


@pytest.mark.parametrize(
    ("command", "overrides", "message"), BAD_SETTINGS, ids=[f"{c}: {' '.join(o)}" for c, o, _ in BAD_SETTINGS]
)
def test_bad_settings_are_one_line_before_any_work(
    command: str, overrides: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, made = COMMANDS[command]
    out = tmp_path / made
    line = one_error_line(capsys, [*(part.format(out=out) for part in argv), *overrides])
    assert message in line
    # the override that set the value is named (the bad value comes last in each case)
    assert line.startswith(f"kear: error: override '{overrides[-1]}': ")
    assert not out.exists()


def test_a_bad_value_in_a_recipe_names_its_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"model:\n  name_or_path: {NOWHERE}\ntraining:\n  epochs: 3\n  learning_rate: .nan\n")
    line = one_error_line(capsys, ["train", "--config", str(recipe)])
    assert line == f"kear: error: {recipe}:5: training.learning_rate must be a finite number > 0, got nan"
    line = one_error_line(capsys, ["train", "--config", str(recipe), "training.learning_rate=1e-5", "lora.r=0"])
    assert line == "kear: error: override 'lora.r=0': lora.r must be an integer >= 1, got 0"


def test_a_recipe_beyond_the_yaml_limits_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("training: &t\n  report_to: *t\n")
    assert one_error_line(capsys, ["train", "--config", str(recipe)]).startswith(
        f"kear: error: {recipe}:2: recursive alias *t"
    )
    recipe.write_text("a: &a [x, x, x, x, x, x]\n" + "".join(f"b{i}: [*a, *a, *a, *a, *a, *a]\n" for i in range(8)))
    assert "more than 32 YAML aliases" in one_error_line(capsys, ["train", "--config", str(recipe)])


@pytest.mark.parametrize(
    "schema", [TrainConfig, ModelConfig, LoraConfig, DataConfig, TrainingConfig, InputConfig, DemoSettings]
)
def test_defaults_pass_their_own_checks(schema: type) -> None:
    assert isinstance(schema(), schema)
    assert isinstance(load_settings(schema), schema)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_every_head_checks_its_settings(name: str) -> None:
    settings_class = HEADS[name].settings_class
    settings_class()  # the defaults pass
    for item in fields(settings_class):
        with pytest.raises(SettingError, match=rf"^{item.name} must be") as caught:
            settings_class(**{item.name: "nonsense"})
        assert caught.value.key == item.name


def test_python_callers_get_the_same_checks() -> None:
    with pytest.raises(ValueError, match="logging_steps must be an integer >= 1, got 0"):
        TrainingConfig(logging_steps=0)
    with pytest.raises(ValueError, match=r"head_settings\.slots must be an integer >= 1, got 0"):
        ModelConfig(head="eanet", head_settings={"slots": 0})
    with pytest.raises(ValueError, match="max_length must be an integer between 8 and 8192, got 9000"):
        InputConfig(max_length=9000)
    with pytest.raises(ValueError, match="sources has unknown source 'web'"):
        RetrievalConfig(sources=["web"])
    with pytest.raises(ConfigError, match=r"^saved settings: training.batch_size must be an integer >= 1, got 0$"):
        load_settings(TrainConfig, None, values={"training": {"batch_size": 0}}, overrides=[])


def test_mixed_precision_no_is_the_text_no() -> None:
    """YAML 1.1 would read ``no`` as false (and OmegaConf turn it into the text "False")."""
    config = load_settings(TrainConfig, None, ["training.mixed_precision=no", "data.retrieve=yes"])
    assert config.training.mixed_precision == "no" and config.data.retrieve is True


@pytest.mark.parametrize("path", sorted((REPO / "kear" / "recipes" / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_train_recipes_pass_the_checks(path: Path) -> None:
    assert isinstance(load_settings(TrainConfig, path), TrainConfig)


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ("tensorboard", ["tensorboard"]),
        ("[tensorboard, wandb]", ["tensorboard", "wandb"]),
        ("none", []),
        ("[none]", []),
        ("null", []),
        ("all", ["all"]),
    ],
)
def test_report_to_takes_a_name_a_list_none_or_all(given: str, names: list[str]) -> None:
    # a name alone once failed in OmegaConf, the field being a list
    assert load_settings(TrainConfig, None, [f"training.report_to={given}"]).training.report_to == names


def test_report_to_all_is_every_tracker_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerate.utils import LoggerType

    from kear.training import check_trackers

    monkeypatch.setattr("kear.training.get_available_trackers", lambda: [LoggerType.TENSORBOARD, LoggerType.MLFLOW])
    assert check_trackers(["all"]) == ["tensorboard", "mlflow"]
    assert check_trackers(["mlflow"]) == ["mlflow"] and check_trackers([]) == []
    monkeypatch.setattr("kear.training.get_available_trackers", lambda: [])
    assert check_trackers(["all"]) == []  # none installed: metrics.jsonl only, not an error
