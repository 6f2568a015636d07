#!/usr/bin/env python
"""How cost grows with the work: BM25 corpus size, annotation and prediction volume, a row per size.

Each measurement runs in a process of its own (this script, with ``--child``), so that its peak memory is its
own (the kernel's ``VmHWM`` of that process) and nothing one size built is warm for the next.

* **BM25** (the examples source, bm25s backend): corpora of 10k, 100k and 1M training questions; reading and
  tokenising the corpus, building the index, and milliseconds per question-choice query (1,000 questions);
* **annotation**: all three sources (ConceptNet triple, Wiktionary definitions, similar examples from a
  10k-question corpus) for 60k and 600k question-choice pairs, streamed from a JSONL file;
* **prediction**: ``kear.prediction.predict_file`` (what ``kear predict`` runs) over 1k and 10k questions with
  their knowledge, the packaged MiniLM at max length 128.

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
from pathlib import Path

from _common import MINILM, REFERENCE, REFERENCE_HELP, header, quiet, reference_indexes, write_report, write_section

SIZES = {"bm25": [10_000, 100_000, 1_000_000], "annotate": [60_000, 600_000], "predict": [1_000, 10_000]}
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


CHILDREN = {
    "bm25": child_bm25,
    "annotate": child_annotate,
    "predict": child_predict,
    "predict-again": child_predict_again,
}


def measure(kind: str, work: Path, size: int) -> dict:
    """One measurement in a fresh process: its figures and its own peak resident memory."""
    command = [sys.executable, __file__, "--child", kind, "--work", str(work), "--size", str(size)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    started = time.perf_counter()
    out = process.stdout.read()
    process.wait()
    if process.returncode:
        raise SystemExit(f"bench_scale: {kind} at {size} failed (status {process.returncode})")
    return {**json.loads(out), "wall": time.perf_counter() - started}


def own_peak_mb() -> float:
    """This process's peak resident memory since it started (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the process it forked from, so every child of
    this script would report at least what the parent held when it started the child (the corpora it made).
    """
    return _status_mb("VmHWM")


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
        from dataclasses import asdict

        (work / "retrieval.json").write_text(json.dumps(asdict(config)))
        for size in SIZES["annotate"]:
            rows = recombined(dev, size // 5, seed + size, "question")
            for row in rows:  # the knowledge is what is measured: none comes with the question
                row["question"] = {k: v for k, v in row["question"].items() if k != "qc_meaning"}
                row["question"]["choices"] = [
                    {"label": c["label"], "text": c["text"]} for c in row["question"]["choices"]
                ]
            write_jsonl(work / f"annotate-{size}.jsonl", rows)
    else:
        from transformers import AutoTokenizer

        from kear.modeling import KearModel, resolve_model_path, save_model

        model = KearModel.from_encoder(MINILM, inputs={"max_length": 128, "knowledge": KNOWLEDGE})
        save_model(model, AutoTokenizer.from_pretrained(resolve_model_path(MINILM)), work / "model")
        for size in SIZES["predict"]:
            write_jsonl(work / f"predict-{size}.jsonl", recombined(dev, size, seed + size, "question"))


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


def tables(found: dict[str, list[dict]]) -> list[str]:
    lines: list[str] = []
    if "bm25" in found:
        rows = found["bm25"]
        lines += [
            "## BM25 corpus size (examples source, bm25s backend)",
            "",
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
    return lines


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
    found: dict[str, list[dict]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kear-bench-scale-") as folder:
        for kind in args.only or list(SIZES):
            work = Path(folder) / kind
            work.mkdir()
            prepare(kind, args.data, work, args.seed)
            found[kind] = [measure(kind, work, size) for size in SIZES[kind]]
            if kind == "predict":
                found["predict_again"] = [measure("predict-again", work, SIZES["predict"][0])]
    lines = header("Scaling", time.perf_counter() - started)
    write_report(args.report, "\n".join([*lines, *tables(found)]))
    if not args.only and args.divide == 1 and args.retrieval_report.is_file():
        # the section's own title, then when, where and by what command, then the tables one level down
        section = ["## Scaling: BM25 corpus, annotation and prediction volume", "", *lines[2:]]
        section += [f"#{line}" if line.startswith("## ") else line for line in tables(found)]
        write_section(args.retrieval_report, "bench_scale", "\n".join(section))
    (args.report.with_suffix(".json")).write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
