#!/usr/bin/env python
"""How cost grows with the work: BM25 corpus size, annotation and prediction volume, a row per size.

Each measurement runs in a process of its own (this script, with ``--child``), so that its peak memory is its
own (the kernel's ``VmHWM`` of that process) and nothing one size built is warm for the next.

* **BM25** (the examples source, bm25s backend): corpora of 10k, 100k and 1M training questions; reading and
  tokenising the corpus, building the index, and milliseconds per question-choice query (1,000 questions);
* **annotation**: all three sources (ConceptNet triple, Wiktionary definitions, similar examples from a
  10k-question corpus) for 60k and 600k question-choice pairs, streamed from a JSONL file;
* **prediction**: ``kear.prediction.predict_file`` (what ``kear predict`` runs) over 1k and 10k questions with
  their knowledge, the packaged MiniLM at max length 128;
* **examples index** (``kear index examples``): for corpora of 10k, 100k and 1M training questions, the time to
  build and save the index, its size, the time to open it, milliseconds per query, and the peak memory of 2
  processes that open it at once and query it (their pages shared);
* **on the fly**: ``kear predict`` of 1k and 10k raw questions (all three kinds of knowledge retrieved as they
  go, examples from corpora of 10k and 100k training questions), before (the sources built anew for every chunk
  of 256, as kear 0.2 did: a predictor per chunk) and after (one predictor for the file), in one run;
* **processes**: retrieval of 60k and 600k question-choice pairs (all three sources, examples from a saved index
  of 10k questions) in 1 process (``kear retrieve``), in 2 processes (``Dataset.map(num_proc=2)`` with one
  ``Annotator``, docs/retrieval.md's recipe) and on a local Ray cluster of 2 workers (``kear retrieve --cluster
  local --workers 2``), each output checked against the 1-process one.

Questions are real CommonsenseQA dev questions recombined (``--data``, by default
``../shared/data/csqa-dev-reference``): each takes the stem and concept of one dev question and five choices,
with their knowledge, drawn from the others, so that lookups meet the real vocabulary at any size. ConceptNet and
the dictionary are the reference data's mini graph and mini dictionary.

    python scripts/bench_scale.py                      # everything, about 40 minutes on 2 cores
    python scripts/bench_scale.py --only bm25          # one table
    python scripts/bench_scale.py --divide 100         # every size a hundredth: a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from _common import (
    MINILM,
    REFERENCE,
    REFERENCE_HELP,
    command_line,
    quiet,
    reference_indexes,
    write_report,
    write_section,
)

SIZES = {
    "bm25": [10_000, 100_000, 1_000_000],
    "annotate": [60_000, 600_000],
    "predict": [1_000, 10_000],
    "index": [10_000, 100_000, 1_000_000],
    "fly": [1_000, 10_000],
    "processes": [60_000, 600_000],
}
FLY_CORPORA = [10_000, 100_000]  # training questions the on-the-fly rows retrieve examples from
# the on-the-fly rows measure what changed (the knowledge state, built per chunk or once); the model, the same in
# both ways, is MiniLM's first layer so that it does not hide that (the whole model's cost: the prediction table)
FLY_LAYERS = 1
OPEN_TARGET = 1.0  # seconds to open the largest examples index (the target)
QUERIES = 1_000  # questions whose choices query each BM25 corpus
CORPUS = 10_000  # training questions the annotation's examples come from
KNOWLEDGE = ["qc_meaning", "ac_meaning", "triple"]  # what the prediction rows' records carry


def recombined(source: Path, count: int, seed: int, prefix: str) -> list[dict]:
    """``count`` CommonsenseQA-layout questions made of the dev split's parts (see the module's docstring)."""
    questions = json.loads(source.read_text(encoding="utf-8"))
    choices = [choice for q in questions for choice in q["question"]["choices"]]
    rng = random.Random(seed)
    out = []
    for i in range(count):
        base = rng.choice(questions)
        picked = rng.sample(choices, 5)
        out.append(
            {
                "id": f"{prefix}-{i:07d}",
                "answerKey": "ABCDE"[rng.randrange(5)],
                "question": {
                    **base["question"],
                    "choices": [{**c, "label": label} for c, label in zip(picked, "ABCDE")],
                },
            }
        )
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)
    return path


# ------------------------------------------------------------------------------------- one measurement


def child_bm25(work: Path, size: int) -> dict:
    from retrieval import ExamplesConfig, read_records
    from retrieval.examples import ExampleRetriever, load_corpus

    started = time.perf_counter()
    corpus = load_corpus([work / f"corpus-{size}.jsonl"])
    read = time.perf_counter() - started
    started = time.perf_counter()
    retriever = ExampleRetriever(corpus, ExamplesConfig(backend="bm25s"))
    build = time.perf_counter() - started
    records = list(read_records(work / "queries.jsonl"))
    started = time.perf_counter()
    for record in records:
        retriever.positions(record)
    pairs = sum(len(r.choices) for r in records)
    return {
        "documents": len(corpus),
        "read": read,
        "build": build,
        "ms": 1000 * (time.perf_counter() - started) / pairs,
    }


def child_annotate(work: Path, size: int) -> dict:
    from retrieval import RetrievalReport, annotate, load_settings, read_records
    from retrieval.config import RetrievalConfig

    values = json.loads((work / "retrieval.json").read_text())
    config = load_settings(RetrievalConfig, values=values)
    report = RetrievalReport()
    started = time.perf_counter()
    for _ in annotate(read_records(work / f"annotate-{size}.jsonl"), config, report=report, progress=False):
        pass  # streamed through, as kear retrieve streams them to its output
    return {"pairs": report.choices, "seconds": time.perf_counter() - started}


def child_predict(work: Path, size: int) -> dict:
    from kear.prediction import predict_file

    output = work / f"predictions-{size}.jsonl"
    output.unlink(missing_ok=True)
    started = time.perf_counter()
    report = predict_file(work / "model", work / f"predict-{size}.jsonl", output, progress=False)
    return {"questions": report.written, "seconds": time.perf_counter() - started}


PASSES = 4  # passes of child_predict_again: one to warm up, three to compare


def child_predict_again(work: Path, size: int) -> dict:
    """The same questions predicted :data:`PASSES` times by one loaded model, in ``kear predict``'s chunks: the
    peak after each pass tells memory kept per question (it would grow by the same amount each pass) from memory
    a process keeps once it has used it."""
    from kear import load_model, predict_records
    from retrieval import read_records

    model, tokenizer = load_model(work / "model")
    records = list(read_records(work / f"predict-{size}.jsonl"))
    start = own_peak_mb()
    peaks, resident = [], []
    for _ in range(PASSES):
        for begin in range(0, len(records), 256):  # kear predict's chunks
            predict_records(model, tokenizer, records[begin : begin + 256], 16)
        peaks.append(own_peak_mb())
        resident.append(own_resident_mb())
    return {"questions": size, "passes": PASSES, "start_mb": start, "peaks_mb": peaks, "resident_mb": resident}


def child_index_build(work: Path, size: int) -> dict:
    from retrieval import index_examples

    started = time.perf_counter()
    index_examples([work / f"corpus-{size}.jsonl"], work / f"index-{size}", progress=False)
    seconds = time.perf_counter() - started
    size_mb = sum(f.stat().st_size for f in (work / f"index-{size}").rglob("*") if f.is_file()) / 2**20
    return {"documents": size, "build": seconds, "size_mb": size_mb}


def child_index_query(work: Path, size: int) -> dict:
    """Open the index and query it with every choice of the 1,000 questions; the open time and the memory."""
    import bm25s  # noqa: F401  (imported before the clock starts: a fixed cost of any process, not of the index)

    from retrieval import ExamplesConfig, read_records
    from retrieval.examples import ExampleRetriever, ExamplesIndex

    records = list(read_records(work / "queries.jsonl"))
    started = time.perf_counter()
    retriever = ExampleRetriever(ExamplesIndex(work / f"index-{size}"), ExamplesConfig())
    opened = time.perf_counter() - started
    started = time.perf_counter()
    for record in records:
        retriever.positions(record)
    pairs = sum(len(r.choices) for r in records)
    ms = 1000 * (time.perf_counter() - started) / pairs
    meet("queried")  # both processes hold the index's pages now: each counts its share of them
    memory = own_memory()
    meet("measured")
    return {"open": opened, "ms": ms, **memory}


def child_fly(work: Path, size: int) -> dict:
    """``kear predict`` of raw questions with examples from a corpus of ``--corpus`` questions, before and after."""
    from kear.prediction import predict_file
    from kear.predictor import Predictor

    corpus = int(os.environ["BENCH_CORPUS"])
    overrides = [f"examples.corpora=[{work / f'corpus-{corpus}.jsonl'}]"]
    output = work / f"fly-{size}-{corpus}.jsonl"
    output.unlink(missing_ok=True)
    if os.environ["BENCH_WAY"] == "before":  # kear 0.2: what a chunk needed was built again for every chunk
        real = Predictor.predict

        def fresh(self: Predictor, records: list, **kwargs: object) -> list:
            self.knowledge.close()
            self.knowledge = type(self.knowledge)(self.inputs, self.rules, self.retrieval, self.processes)
            return real(self, records, **kwargs)

        Predictor.predict = fresh
    started = time.perf_counter()
    report = predict_file(
        work / "model", work / f"fly-{size}.jsonl", output, retrieval_overrides=overrides, progress=False
    )
    return {"questions": report.written, "seconds": time.perf_counter() - started, "digest": file_digest(output)}


def child_processes(work: Path, size: int) -> dict:
    """Retrieval of ``size`` pairs one way (``BENCH_WAY``: one, datasets, cluster); the output's digest."""
    from retrieval import RetrievalConfig, load_settings, retrieve_file

    config = load_settings(RetrievalConfig, values=json.loads((work / "retrieval.json").read_text()))
    source, output = work / f"annotate-{size}.jsonl", work / f"out-{size}.jsonl"
    output.unlink(missing_ok=True)
    way = os.environ["BENCH_WAY"]
    started = time.perf_counter()
    if way == "one":
        retrieve_file(source, output, config, progress=False)
    elif way == "cluster":
        from retrieval import ClusterConfig

        retrieve_file(source, output, config, progress=False, cluster=ClusterConfig("local", workers=2))
    else:
        by_datasets(source, output, config)
    return {"pairs": size, "seconds": time.perf_counter() - started, "digest": file_digest(output)}


def by_datasets(source: Path, output: Path, config: object) -> None:
    """docs/retrieval.md's recipe: one Annotator, ``Dataset.map`` in 2 processes, the lines written in order."""
    import orjson
    from datasets import disable_progress_bars, load_dataset

    from retrieval import Annotator, record_from_dict

    disable_progress_bars()
    annotator = Annotator(config)

    def add_knowledge(batch: dict) -> dict:
        records = annotator([record_from_dict(orjson.loads(line)) for line in batch["text"] if line.strip()])
        return {"line": [orjson.dumps(record.to_dict()).decode() for record in records]}

    lines = load_dataset("text", data_files=str(source), split="train", cache_dir=str(output.parent / "hf"))
    done = lines.map(add_knowledge, batched=True, batch_size=256, num_proc=2, remove_columns=["text"])
    with open(output, "w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in done["line"])


def file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha1(path.read_bytes()).hexdigest()


CHILDREN = {
    "index-build": child_index_build,
    "index-query": child_index_query,
    "fly": child_fly,
    "processes": child_processes,
    "bm25": child_bm25,
    "annotate": child_annotate,
    "predict": child_predict,
    "predict-again": child_predict_again,
}


def measure(kind: str, work: Path, size: int, **env: str) -> dict:
    """One measurement in a fresh process: its figures and its own peak resident memory."""
    return measure_together(kind, work, size, 1, **env)[0]


def measure_together(kind: str, work: Path, size: int, count: int, **env: str) -> list[dict]:
    """The same measurement in ``count`` fresh processes at once (they meet before measuring their memory)."""
    command = [sys.executable, __file__, "--child", kind, "--work", str(work), "--size", str(size)]
    meeting = work / f"meeting-{kind}-{size}"
    meeting.mkdir(exist_ok=True)
    environment = {**os.environ, **env, "BENCH_PEERS": str(count), "BENCH_MEETING": str(meeting)}
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=environment)
        for _ in range(count)
    ]
    outs = [process.communicate()[0] for process in processes]
    if any(process.returncode for process in processes):
        raise SystemExit(f"bench_scale: {kind} at {size} {env} failed")
    return [{**json.loads(out), "wall": time.perf_counter() - started} for out in outs]


def meet(step: str) -> None:
    """Wait until every process of a :func:`measure_together` has reached ``step``."""
    folder, peers = Path(os.environ["BENCH_MEETING"]), int(os.environ["BENCH_PEERS"])
    (folder / f"{step}-{os.getpid()}").touch()
    while len(list(folder.glob(f"{step}-*"))) < peers:
        time.sleep(0.01)


def own_peak_mb() -> float:
    """This process's peak resident memory since it started (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the process it forked from, so every child of
    this script would report at least what the parent held when it started the child (the corpora it made).
    """
    return _status_mb("VmHWM")


def own_memory() -> dict:
    """This process's memory now: resident (``Rss``, shared pages counted whole) and proportional (``Pss``, each
    shared page divided among the processes that map it: what two processes sharing an index cost together)."""
    rollup = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        rollup[name.rstrip(":")] = int(value) / 1024
    return {"rss_mb": rollup["Rss"], "pss_mb": rollup["Pss"]}


def own_resident_mb() -> float:
    """The memory this process holds now (``VmRSS``)."""
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("bench_scale: this needs Linux's /proc/self/status for peak memory")


# ------------------------------------------------------------------------------------------- preparing


def prepare(kind: str, data: Path, work: Path, seed: int) -> None:
    """The inputs of one table in ``work``."""
    dev = data / "dev.json"
    if kind == "bm25":
        write_jsonl(work / "queries.jsonl", recombined(dev, QUERIES, seed, "query"))
        for size in SIZES["bm25"]:
            write_jsonl(work / f"corpus-{size}.jsonl", recombined(dev, size, seed + size, "train"))
    elif kind == "annotate":
        corpus = write_jsonl(work / "annotate-corpus.jsonl", recombined(dev, CORPUS, seed + 1, "train"))
        config = reference_indexes(data, work / "indexes", corpora=[corpus], use_cache=False)
        (work / "retrieval.json").write_text(json.dumps(asdict(config)))
        for size in SIZES["annotate"]:
            write_jsonl(work / f"annotate-{size}.jsonl", raw_questions(dev, size // 5, seed + size))
    elif kind == "index":
        write_jsonl(work / "queries.jsonl", recombined(dev, QUERIES, seed, "query"))
        for size in SIZES["index"]:
            write_jsonl(work / f"corpus-{size}.jsonl", recombined(dev, size, seed + size, "train"))
    elif kind == "processes":
        corpus = write_jsonl(work / "corpus.jsonl", recombined(dev, CORPUS, seed + 1, "train"))
        from retrieval import index_examples

        index_examples([corpus], work / "indexes" / "examples", progress=False)
        config = reference_indexes(data, work / "indexes", use_cache=False, batch_size=256)
        config.examples.index = str(work / "indexes" / "examples")
        (work / "retrieval.json").write_text(json.dumps(asdict(config)))
        for size in SIZES["processes"]:
            write_jsonl(work / f"annotate-{size}.jsonl", raw_questions(dev, size // 5, seed + size))
    elif kind == "fly":
        for size in FLY_CORPORA:
            write_jsonl(work / f"corpus-{size}.jsonl", recombined(dev, size, seed + size + 1, "train"))
        config = reference_indexes(data, work / "indexes", use_cache=False)
        save_minilm(work / "model", [*KNOWLEDGE, "examples"], asdict(config), layers=FLY_LAYERS)
        for size in SIZES["fly"]:
            write_jsonl(work / f"fly-{size}.jsonl", raw_questions(dev, size, seed + size))
    else:
        save_minilm(work / "model", KNOWLEDGE)
        for size in SIZES["predict"]:
            write_jsonl(work / f"predict-{size}.jsonl", recombined(dev, size, seed + size, "question"))


def raw_questions(dev: Path, count: int, seed: int) -> list[dict]:
    """``count`` recombined questions without knowledge: retrieval is what is measured."""
    rows = recombined(dev, count, seed, "question")
    for row in rows:
        row["question"] = {k: v for k, v in row["question"].items() if k != "qc_meaning"}
        row["question"]["choices"] = [{"label": c["label"], "text": c["text"]} for c in row["question"]["choices"]]
    return rows


def save_minilm(folder: Path, knowledge: list[str], retrieval: dict | None = None, layers: int | None = None) -> None:
    """The packaged MiniLM as an (untrained) kear model reading ``knowledge``, at max length 128 (with ``layers``,
    only its first ``layers`` layers)."""
    from transformers import AutoTokenizer

    from kear.modeling import KearModel, resolve_model_path, save_model

    model = KearModel.from_encoder(MINILM, inputs={"max_length": 128, "knowledge": knowledge})
    if layers is not None:
        model.encoder.encoder.layer = model.encoder.encoder.layer[:layers]
        model.config.encoder.num_hidden_layers = layers
    model.config.retrieval = retrieval
    save_model(model, AutoTokenizer.from_pretrained(resolve_model_path(MINILM)), folder)


# --------------------------------------------------------------------------------------------- report


def growth(rows: list[dict], key: str, sizes: list[int]) -> str:
    """How ``key`` grew at each step up in size, against the step's own ratio, and what kind of growth that is."""
    steps = [(after[key] / before[key], b / a) for before, after, a, b in zip(rows, rows[1:], sizes, sizes[1:])]
    said = ", then ".join(f"{grew:.1f}x" for grew, _ in steps)
    work = ", ".join(f"{ratio:.0f}x" for _, ratio in steps)
    return f"{said} for {work} the work ({kind_of_growth(steps)})"


def kind_of_growth(steps: list[tuple[float, float]]) -> str:
    """Linear when each step grows within a quarter of the work's own ratio; flat when it hardly grows at all."""
    shares = [grew / ratio for grew, ratio in steps]
    if all(grew < 1.25 for grew, _ in steps):
        return "flat: it does not follow the work"
    if all(0.75 <= share <= 1.25 for share in shares):
        return "linear"
    if shares[-1] > 1.25:
        return "more than linear at the largest size"
    if 0.75 <= shares[-1] <= 1.25:
        return "linear from the middle size on; below it a fixed cost dominates"
    return "less than linear: a fixed cost still dominates"


def again_sentence(again: dict, rows: list[dict]) -> str:
    """What predicting the same questions again in one process says about the growth of prediction's memory with
    volume (``rows``: the prediction table): memory kept per question would raise the peak by as much on every
    pass. The peak, as in the table, not the resident size at a pass's end, which moves by tens of MB as the
    allocator returns memory or not."""
    peaks, resident = again["peaks_mb"], again["resident_mb"]
    # from the end of the second pass on: the first pass warms up (every batch shape met once), the others repeat it
    per_again = 1024 * (peaks[-1] - peaks[1]) / ((again["passes"] - 2) * again["questions"])
    per_volume = 1024 * (rows[-1]["peak_mb"] - rows[0]["peak_mb"]) / (rows[-1]["questions"] - rows[0]["questions"])
    verdict = (
        "so that growth is not memory kept per question (lines go to the file chunk by chunk): it is memory the "
        "process keeps once it has used it"
        if per_again < 0.25 * per_volume
        else "about as much: memory is kept per question"
    )
    return (
        f"The peak grows by {per_volume:.0f} KB per question from {rows[0]['questions']:,} to "
        f"{rows[-1]['questions']:,} questions. The same {again['questions']:,} questions predicted "
        f"{again['passes']} times by one loaded model ({again['start_mb']:,.0f} MB loaded): peak "
        f"{', '.join(f'{p:,.0f}' for p in peaks)} MB, resident at the end of each pass "
        f"{', '.join(f'{r:,.0f}' for r in resident)} MB, {per_again:+.0f} KB per question predicted again after the "
        f"second pass, {verdict}."
    )


def when(found: dict, kind: str) -> list[str]:
    """When and by what command a table was measured (nothing for results of runs before this was recorded)."""
    run = found.get("measured", {}).get(kind)
    if run is None:
        return []
    taken = f" in {run['minutes']:.0f} minutes" if "minutes" in run else ""
    return [f"Measured {run['when']}{taken} by `{run['command']}`.", ""]


def tables(found: dict[str, list[dict]]) -> list[str]:
    lines: list[str] = []
    if "bm25" in found:
        rows = found["bm25"]
        lines += [
            "## BM25 corpus size (examples source, bm25s backend)",
            "",
            *when(found, "bm25"),
            "| documents | read and tokenise (s) | index build (s) | ms per question-choice query | peak RSS (MB) |",
            "|---:|---:|---:|---:|---:|",
            *(
                f"| {r['documents']:,} | {r['read']:.1f} | {r['build']:.1f} | {r['ms']:.2f} | {r['peak_mb']:,.0f} |"
                for r in rows
            ),
            "",
            f"Index build: {growth(rows, 'build', SIZES['bm25'])}; memory: {growth(rows, 'peak_mb', SIZES['bm25'])}; "
            f"query time: {growth(rows, 'ms', SIZES['bm25'])} (every query scores the whole corpus).",
            "",
        ]
    if "annotate" in found:
        rows = found["annotate"]
        lines += [
            "## Annotation volume (all three sources, streamed)",
            "",
            *when(found, "annotate"),
            "| question-choice pairs | seconds | pairs per second | peak RSS (MB) |",
            "|---:|---:|---:|---:|",
            *(
                f"| {r['pairs']:,} | {r['seconds']:.1f} | {r['pairs'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} |"
                for r in rows
            ),
            "",
            f"Time (opening the indexes and building BM25 included): {growth(rows, 'seconds', SIZES['annotate'])}; "
            f"memory: {growth(rows, 'peak_mb', SIZES['annotate'])}.",
            "",
        ]
    if "predict" in found:
        rows = found["predict"]
        lines += [
            "## Prediction volume (`kear predict`, knowledge given, MiniLM at max length 128)",
            "",
            *when(found, "predict"),
            "| questions | seconds (model load included) | questions per second | peak RSS (MB) |",
            "|---:|---:|---:|---:|",
            *(
                f"| {r['questions']:,} | {r['seconds']:.1f} | {r['questions'] / r['seconds']:.1f} | "
                f"{r['peak_mb']:,.0f} |"
                for r in rows
            ),
            "",
            f"Time: {growth(rows, 'seconds', SIZES['predict'])}; memory: {growth(rows, 'peak_mb', SIZES['predict'])}."
            + (f" {again_sentence(found['predict_again'][0], rows)}" if "predict_again" in found else ""),
            "",
        ]
    lines += index_table(found) + fly_table(found) + processes_table(found)
    return lines


def index_table(found: dict) -> list[str]:
    if "index" not in found:
        return []
    rows, built = found["index"], {r["documents"]: r for r in found.get("bm25", [])}
    largest = rows[-1]
    verdict = "met" if largest["open"] < OPEN_TARGET else "missed"
    lines = [
        "## Examples index (`kear index examples`): built once, opened by every run",
        "",
        *when(found, "index"),
        "| documents | build and save (s) | size (MB) | open (s) | read and index the corpus instead (s) | "
        "ms per query | peak RSS of each of 2 processes (MB) | PSS of the 2 together (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        memory = built.get(r["documents"])
        instead = f"{memory['read'] + memory['build']:.1f}" if memory else "n/a"
        peaks = " / ".join(f"{p['peak_mb']:,.0f}" for p in r["pair"])
        lines.append(
            f"| {r['documents']:,} | {r['build']:.1f} | {r['size_mb']:,.0f} | {r['open']:.3f} | {instead} | "
            f"{r['ms']:.2f} | {peaks} | {sum(p['pss_mb'] for p in r['pair']):,.0f} |"
        )
    shared = largest["pair"]
    lines += [
        "",
        f"Opening the largest index took {largest['open']:.3f} s (target: under {OPEN_TARGET:g} s, {verdict}). Every "
        "array of it is memory-mapped, so two processes that open it share its pages: at the largest size each "
        f"held {' and '.join(format(p['rss_mb'], ',.0f') for p in shared)} MB resident after its queries, which counts "
        f"the shared pages whole, and {sum(p['pss_mb'] for p in shared):,.0f} MB together counting each shared page "
        "once (PSS). Build time: "
        f"{growth(rows, 'build', SIZES['index'])}; query time: {growth(rows, 'ms', SIZES['index'])} (every query "
        "still scores the whole corpus); open time does not follow the corpus.",
        "",
    ]
    return lines


def fly_table(found: dict) -> list[str]:
    if "fly" not in found:
        return []
    lines = [
        "## On-the-fly prediction: the sources built once per file, not once per chunk",
        "",
        *when(found, "fly"),
        "`kear predict` of raw questions (ConceptNet, dictionary and examples retrieved as it goes). Before: the "
        "sources built again for every chunk of 256 questions, as kear 0.2 did (the examples corpus read and indexed "
        "each time); after: one predictor for the file. The model is the packaged MiniLM cut to its first "
        f"{FLY_LAYERS} layer(s), at max length 128: it costs the same both ways, and the whole model would hide "
        "the part that changed (its own cost per question: the prediction table).",
        "",
        "| questions | examples corpus | before (s) | after (s) | after is faster by | the same lines |",
        "|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in found["fly"]:
        before, after = r["before"], r["after"]
        same = "yes" if before["digest"] == after["digest"] else "NO"
        lines.append(
            f"| {r['questions']:,} | {r['corpus']:,} | {before['seconds']:.1f} | {after['seconds']:.1f} | "
            f"{before['seconds'] / after['seconds']:.2f}x | {same} |"
        )
    lines += [
        "",
        "What a chunk rebuilt grows with the corpus and the number of chunks (questions / 256); what the model costs "
        "grows with the questions alone, so the ratio is largest for a large corpus and does not shrink with more "
        "questions.",
        "",
    ]
    return lines


def processes_table(found: dict) -> list[str]:
    if "processes" not in found:
        return []
    lines = [
        "## Retrieval in 1 process, 2 processes, and on a local cluster of 2 workers",
        "",
        *when(found, "processes"),
        "All three sources, the examples from a saved index of 10k questions. 1 process: `kear retrieve`; "
        "2 processes: `Dataset.map(num_proc=2)` with one `Annotator` (docs/retrieval.md's recipe); cluster: "
        "`kear retrieve --cluster local --workers 2` (Ray Data; the cluster's start included).",
        "",
        "| question-choice pairs | 1 process (s) | 2 processes (s) | speed-up | cluster of 2 (s) | speed-up | "
        "the same output |",
        "|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in found["processes"]:
        one, two, cluster = r["one"], r["datasets"], r["cluster"]
        same = "yes" if one["digest"] == two["digest"] == cluster["digest"] else "NO"
        lines.append(
            f"| {r['pairs']:,} | {one['seconds']:.1f} | {two['seconds']:.1f} | "
            f"{one['seconds'] / two['seconds']:.2f}x | {cluster['seconds']:.1f} | "
            f"{one['seconds'] / cluster['seconds']:.2f}x | {same} |"
        )
    lines += [
        "",
        f"This machine has {os.cpu_count()} cores, so 2 is as far as processes can go here: 2 processes can at "
        "best halve the time, less what each starts with (importing, opening the indexes) and what the splitting "
        "and joining cost (the datasets library writes each process's results to disk and reads them back; Ray "
        "starts a cluster, ships the records to the workers and the lines back, and its own processes share the "
        "2 cores). More cores or machines add workers, each with its own copy of the sources (the examples index "
        "shared between the workers of one machine).",
        "",
    ]
    return lines


def run_table(kind: str, work: Path) -> dict[str, list[dict]]:
    """The rows of one table, each measured in fresh processes."""
    if kind == "index":
        rows = []
        for size in SIZES["index"]:
            built = measure("index-build", work, size)
            alone = measure("index-query", work, size)
            pair = measure_together("index-query", work, size, 2)
            rows.append({**built, "open": alone["open"], "ms": alone["ms"], "pair": pair})
        return {"index": rows}
    if kind == "fly":
        rows = []
        for size in SIZES["fly"]:
            for corpus in FLY_CORPORA:
                runs = {
                    way: measure("fly", work, size, BENCH_WAY=way, BENCH_CORPUS=str(corpus))
                    for way in ("before", "after")
                }
                rows.append({"questions": size, "corpus": corpus, **runs})
        return {"fly": rows}
    if kind == "processes":
        rows = [
            {
                "pairs": size,
                **{way: measure("processes", work, size, BENCH_WAY=way) for way in ("one", "datasets", "cluster")},
            }
            for size in SIZES["processes"]
        ]
        return {"processes": rows}
    found = {kind: [measure(kind, work, size) for size in SIZES[kind]]}
    if kind == "predict":
        found["predict_again"] = [measure("predict-again", work, SIZES["predict"][0])]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REFERENCE, help=f"the reference data (default {REFERENCE_HELP})")
    parser.add_argument("--only", choices=list(SIZES), action="append", help="measure only these tables")
    parser.add_argument("--divide", type=int, default=1, help="divide every size by this (a quick look)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks/scale.md"), help="Markdown to write")
    parser.add_argument(
        "--retrieval-report",
        type=Path,
        default=Path("docs/benchmarks/retrieval.md"),
        help="the retrieval benchmark's report, whose scaling section a whole run (no --only, --divide) rewrites",
    )
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        print(json.dumps({**CHILDREN[args.child](args.work, args.size), "peak_mb": own_peak_mb()}))
        return
    if not (args.data / "dev.json").is_file():
        parser.exit(2, f"bench_scale: {args.data / 'dev.json'} is not here (--data; default {REFERENCE_HELP})\n")
    quiet()
    for kind in SIZES:
        SIZES[kind] = [max(10, size // args.divide) for size in SIZES[kind]]
    FLY_CORPORA[:] = [max(10, size // args.divide) for size in FLY_CORPORA]
    # the tables of earlier runs stay, each with when and how it was measured; a run replaces those it measures
    previous = args.report.with_suffix(".json")
    found: dict[str, list[dict]] = json.loads(previous.read_text()) if previous.is_file() and args.only else {}
    measured = found.setdefault("measured", {})
    lines = ["# Scaling", "", f"On {os.cpu_count()} CPU cores; each table says when and by what command.", ""]
    for kind in args.only or list(SIZES):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="kear-bench-scale-") as folder:
            work = Path(folder) / kind
            work.mkdir()
            prepare(kind, args.data, work, args.seed)
            found.update(run_table(kind, work))
        minutes = (time.perf_counter() - started) / 60
        measured[kind] = {"when": time.strftime("%Y-%m-%d"), "minutes": minutes, "command": command_line()}
        # written after every table: a long run that stops keeps what it measured
        write_report(args.report, "\n".join([*lines, *tables(found)]))
        (args.report.with_suffix(".json")).write_text(json.dumps(found, indent=1))
    if not args.only and args.divide == 1 and args.retrieval_report.is_file():
        # the section's own title, then when, where and by what command, then the tables one level down
        section = ["## Scaling: BM25 corpus, annotation, prediction and processes", "", *lines[2:]]
        section += [f"#{line}" if line.startswith("## ") else line for line in tables(found)]
        write_section(args.retrieval_report, "bench_scale", "\n".join(section))


if __name__ == "__main__":
    main()
