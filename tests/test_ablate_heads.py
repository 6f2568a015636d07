"""Smoke test of the pooling-head ablation: the demo part, one seed, one step per head."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ablate_heads.py"


def test_ablation_runs_every_head_on_the_demo(tmp_path: Path) -> None:
    report = tmp_path / "heads.md"
    command = [sys.executable, str(SCRIPT), "--parts", "demo", "--seeds", "1", "--max-steps", "1"]
    result = subprocess.run(
        [*command, "--report", str(report)], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = report.read_text()
    for head in ("first token (KEAR)", "extra self-attention layer", "EANet", "RTFormer", "AGMH", "LEA-GCN"):
        assert f"| {head}" in text, head
    demo = json.loads(report.with_suffix(".json").read_text())["demo"]
    assert len(demo) == 6 and all(len(scores) == 1 and 0 <= scores[0] <= 1 for scores in demo.values())
