"""Retrieval and prediction on a local Ray cluster of 2 workers, and the datasets.map path: the same output as one
process, with each worker opening each knowledge source once."""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

import orjson
import pytest

from kear.cli import main
from retrieval import Annotator, record_from_dict
from retrieval.data import sample_file

from .test_prediction import many_records
from .tracing import OPENED, opened, trace

ray = pytest.importorskip("ray", reason="the cluster extra is not installed: pip install 'kear[cluster]'")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A local Ray cluster of 2 CPUs whose processes count what they open (tests/tracing.py, imported first by each);
    ``kear`` uses it as a session already started."""
    hook = tmp_path_factory.mktemp("hook")
    (hook / "sitecustomize.py").write_text("import tests.tracing\n")
    trace = hook / "trace.txt"
    path = os.pathsep.join([str(hook), str(Path(__file__).resolve().parents[1]), *sys.path[1:]])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "KEAR_TEST_TRACE": str(trace)}},
    )
    yield trace
    ray.shutdown()


def settings(config) -> list[str]:
    """The sample's indexes and corpus as ``key=value`` settings, without the cache (so that every run retrieves)."""
    return [
        f"conceptnet.index={config.conceptnet.index}",
        f"dictionary.indexes=[{config.dictionary.indexes[0]}]",
        f"examples.corpora=[{sample_file('train.jsonl')}]",
        "use_cache=false",
    ]


def test_kear_retrieve_on_the_cluster_writes_what_one_process_writes(cluster, sample_config, tmp_path: Path) -> None:
    source = many_records(sample_file("questions.jsonl"), 60, tmp_path / "raw.jsonl")
    # 10 chunks of 6 for the 2 workers
    args = ["retrieve", "--input", str(source), "--no-progress", *settings(sample_config), "batch_size=6"]
    assert main([*args, "--output", str(tmp_path / "one.jsonl")]) == 0
    opened(cluster)
    assert main([*args, "--output", str(tmp_path / "two.jsonl"), "--cluster", "auto", "--workers", "2"]) == 0
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    workers = opened(cluster)
    assert len(workers) == 2  # both workers did some of the 10 chunks, and each opened every source once
    assert all(counts == collections.Counter(OPENED) for counts in workers.values()), workers


def test_kear_predict_on_the_cluster_writes_what_one_process_writes(
    cluster, trained_model, sample_config, tmp_path: Path
) -> None:
    source = many_records(sample_file("questions.jsonl"), 600, tmp_path / "raw.jsonl")  # 3 chunks of 256
    args = ["predict", "--model", str(trained_model), "--input", str(source), "--with-knowledge"]
    args += settings(sample_config)
    assert main([*args, "--output", str(tmp_path / "one.jsonl"), "--no-progress"]) == 0
    opened(cluster)
    two = ["--output", str(tmp_path / "two.jsonl"), "--cluster", "auto", "--workers", "2", "--no-progress"]
    assert main([*args, *two]) == 0
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    workers = opened(cluster)
    assert 1 <= len(workers) <= 2 and all(set(counts.values()) == {1} for counts in workers.values()), workers


def test_a_workers_error_is_one_line(cluster, sample_config, tmp_path: Path, capsys) -> None:
    config = tmp_path / "retrieval.yaml"
    config.write_text(f"sources: [conceptnet]\nconceptnet: {{index: {sample_config.conceptnet.index}}}\n")
    source = tmp_path / "in.jsonl"
    source.write_text(sample_file("questions.jsonl").read_text())
    (Path(sample_config.conceptnet.index) / "tail.npy").rename(tmp_path / "tail.npy")  # gone after the driver's check
    try:
        args = ["retrieve", "--config", str(config), "--input", str(source), "--output", str(tmp_path / "o.jsonl")]
        assert main([*args, "--cluster", "auto", "--no-progress"]) == 1
    finally:
        (tmp_path / "tail.npy").rename(Path(sample_config.conceptnet.index) / "tail.npy")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing tail.npy" in err and "Traceback" not in err, err
    assert not (tmp_path / "o.jsonl").exists()


def test_the_documented_datasets_map_opens_each_source_once_per_process(sample_config, tmp_path: Path, monkeypatch):
    """docs/retrieval.md's recipe: an Annotator made once, sent to every process of ``Dataset.map``."""
    datasets = pytest.importorskip("datasets")
    traced = tmp_path / "trace.txt"
    trace(traced, monkeypatch.setattr)  # the processes of Dataset.map are forks of this one: they write there too
    sample_config.use_cache = False
    annotator = Annotator(sample_config)
    assert opened(traced) == {os.getpid(): collections.Counter(OPENED[:3])}  # checked here; nothing opened yet
    source = many_records(sample_file("questions.jsonl"), 600, tmp_path / "raw.jsonl")

    def add_knowledge(batch: dict) -> dict:
        records = annotator([record_from_dict(orjson.loads(line)) for line in batch["text"] if line.strip()])
        return {"line": [orjson.dumps(record.to_dict()).decode() for record in records]}

    lines = datasets.load_dataset("text", data_files=str(source), split="train", cache_dir=str(tmp_path / "hf"))
    done = lines.map(add_knowledge, batched=True, batch_size=64, num_proc=2, remove_columns=["text"])
    workers = opened(traced)
    one = ["retrieve", "--input", str(source), "--output", str(tmp_path / "one.jsonl"), "--no-progress"]
    assert main([*one, *settings(sample_config)]) == 0
    assert "".join(line + "\n" for line in done["line"]) == (tmp_path / "one.jsonl").read_text()  # kear retrieve's
    # 10 batches of 64 in 2 processes: each built the sources and opened every index once
    assert len(workers) == 2 and os.getpid() not in workers
    assert all(counts == collections.Counter(OPENED) for counts in workers.values()), workers
