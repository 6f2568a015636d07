"""Smoke test: the retrieval benchmark runs end to end at a tiny scale (timings are not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_retrieval.py"


def test_bench_retrieval_runs_small(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    sizes = ["--rows", "20000", "--questions", "60", "--train", "40", "--dictionary", "2000"]
    sizes += ["--rank-bm25-records", "20"]
    command = [sys.executable, str(SCRIPT), *sizes, "--workdir", str(tmp_path), "--report", str(report)]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(report.with_suffix(".json").read_text())
    assert results["ours"]["edges"] > 1500
    assert results["annotation"]["pairs"] == 300
    assert results["bm25"]["identical_top_k"] is True
    # the parsing floor split the same dump: every row, and the same English-English rows as the ingest kept
    floor = next(row for name, row in results["ingest"]["decompressors"].items() if name.startswith("pyarrow"))
    index = results["ingest"]["index"]
    assert [(run["rows"], run["english_rows"]) for run in floor["runs"]] == [(index["rows"], index["english_rows"])] * 3
    text = report.read_text()
    assert "python scripts/bench_retrieval.py --rows 20000" in text and "Speed-up" in text


def test_growth_is_judged_on_one_line_through_every_size(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    from bench_retrieval import growth

    names, rows = ["1/8", "1/4", "1/2", "1"], [4.25, 8.5, 17.0, 34.0]
    # one noisy size among straight-line costs stays linear; a bent curve names the sizes off the line
    assert growth(names, rows, [2.3, 3.8, 5.4, 10.2], "s per million rows").endswith("linear growth.")
    bent = growth(names, rows, [1.0, 2.0, 4.0, 20.0], "s per million rows")
    assert bent.startswith("not linear: the best line through the 4 sizes (0.65 s per million rows) misses 1/8, 1/2 ")
