#!/usr/bin/env python
"""Time and peak memory of the memory-unit external-attention heads against multi-head self-attention.

For sequence lengths from 128 to 8192, each head (and one multi-head self-attention layer) runs a forward pass on
one sequence of that length, in a fresh process so that its peak memory is its own. Self-attention is measured
twice: materialising its attention matrix (``need_weights=True``, the textbook computation) and through
PyTorch's fused kernel (``scaled_dot_product_attention``, called directly), which never holds the matrix but
still does quadratic work. Writes a table and a log-log plot.

    python scripts/bench_heads.py                       # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

CANDIDATES = {
    "EANet (64 slots)": ("eanet", {"slots": 64}),
    "EANet, 8 heads": ("eanet", {"slots": 64, "heads": 8}),
    "RTFormer (r = 0.25, 8 heads)": ("rtformer", {"memory_ratio": 0.25, "heads": 8}),
    "RTFormer grouped (r = 0.25)": ("rtformer", {"memory_ratio": 0.25, "grouped": True, "groups": 8}),
    "AGMH SIEA (3 memories)": ("agmh_siea", {"slots": 64}),
    "LEA-GCN dual channel": ("lea_gcn", {"slots": 64, "heads": 8}),
    "self-attention, attention matrix": ("attention-matrix", {}),
    "self-attention, fused kernel": ("attention-fused", {}),
}

# one measurement, in its own process: prints {"ms": ..., "peak_mb": ...}
PROBE = r"""
import json, resource, sys, time, torch
name, settings = sys.argv[1], json.loads(sys.argv[2])
length, hidden, repeats = (int(value) for value in sys.argv[3:6])
torch.manual_seed(0)
torch.set_grad_enabled(False)
if name == "attention-matrix":
    layer = torch.nn.MultiheadAttention(hidden, 8, batch_first=True).eval()
    run = lambda x, m: layer(x, x, x, key_padding_mask=~m.bool(), need_weights=True)[0][:, 0]
elif name == "attention-fused":  # called directly: nn.MultiheadAttention's CPU path still builds the matrix
    layer = torch.nn.MultiheadAttention(hidden, 8, batch_first=True).eval()
    def run(x, m):
        b, n, _ = x.shape
        qkv = torch.nn.functional.linear(x, layer.in_proj_weight, layer.in_proj_bias).chunk(3, -1)
        q, k, v = (t.view(b, n, 8, -1).transpose(1, 2) for t in qkv)
        keep = m.bool()[:, None, None, :]
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        return layer.out_proj(out.transpose(1, 2).reshape(b, n, -1))[:, 0]
else:
    from kear.heads import build_head
    head = build_head(name, hidden, settings).eval()
    run = lambda x, m: head(x, m).pooled
x, mask = torch.randn(1, length, hidden), torch.ones(1, length, dtype=torch.long)
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
before = rss()
run(x, mask)  # warm-up, and the peak
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
times = []
for _ in range(repeats):
    started = time.perf_counter(); run(x, mask); times.append(time.perf_counter() - started)
print(json.dumps({"ms": 1000 * sorted(times)[len(times) // 2], "peak_mb": max(peak, 0.0)}))
"""


def measure(kind: str, settings: dict, length: int, hidden: int, repeats: int) -> dict:
    command = [sys.executable, "-c", PROBE, kind, json.dumps(settings), str(length), str(hidden), str(repeats)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    if result.returncode != 0:
        return {"ms": float("nan"), "peak_mb": float("nan"), "error": result.stderr.strip().splitlines()[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def plot(results: dict, lengths: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, rows in results.items():
        style = "--" if name.startswith("self-attention") else "-"
        time_axis.loglog(lengths, [r["ms"] for r in rows], style, marker="o", markersize=3, label=name)
        memory_axis.loglog(lengths, [max(r["peak_mb"], 0.1) for r in rows], style, marker="o", markersize=3)
    for axis, label in ((time_axis, "forward time (ms)"), (memory_axis, "peak memory of the forward (MB)")):
        axis.set_xlabel("sequence length (tokens)")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    reference = [lengths[0], lengths[-1]]
    base = results[next(iter(results))][0]["ms"]
    time_axis.loglog(reference, [base, base * reference[1] / reference[0]], ":", color="gray", label="slope 1 (linear)")
    time_axis.loglog(
        reference, [base, base * (reference[1] / reference[0]) ** 2], ":", color="black", label="slope 2 (quadratic)"
    )
    time_axis.legend(fontsize=7)
    figure.suptitle("Memory-unit external attention against multi-head self-attention (CPU, one sequence)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512, 1024, 2048, 4096, 8192])
    parser.add_argument("--hidden", type=int, default=384, help="hidden size (MiniLM's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks/heads.md"))
    args = parser.parse_args()
    results = {
        name: [measure(kind, settings, length, args.hidden, args.repeats) for length in args.lengths]
        for name, (kind, settings) in CANDIDATES.items()
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    plot(results, args.lengths, args.report.with_suffix(".png"))
    header = " | ".join(str(length) for length in args.lengths)
    lines = [
        "# Pooling heads: time and memory against sequence length",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores by:",
        "",
        f"    python scripts/bench_heads.py {shlex.join(sys.argv[1:])}".rstrip(),
        "",
        f"One sequence, hidden size {args.hidden}, forward pass without gradients, median of {args.repeats}; each "
        "point in its own process (peak memory: the process's peak RSS during the first forward, less its RSS "
        "before it).",
        "",
        f"![time and memory]({args.report.with_suffix('.png').name})",
        "",
        f"| forward time (ms) | {header} |",
        "|---|" + "---:|" * len(args.lengths),
        *[f"| {name} | " + " | ".join(f"{r['ms']:.1f}" for r in rows) + " |" for name, rows in results.items()],
        "",
        f"| peak memory (MB) | {header} |",
        "|---|" + "---:|" * len(args.lengths),
        *[f"| {name} | " + " | ".join(f"{r['peak_mb']:.0f}" for r in rows) + " |" for name, rows in results.items()],
        "",
    ]
    # short sequences are dominated by fixed costs, so the growth over the longest lengths shows the order best
    for first in sorted({0, max(0, len(args.lengths) - 4)}):
        factor = args.lengths[-1] / args.lengths[first]
        lines.append(
            f"From {args.lengths[first]} to {args.lengths[-1]} tokens ({factor:.0f}x longer), forward time grows by: "
            + "; ".join(f"{name} {rows[-1]['ms'] / rows[first]['ms']:.1f}x" for name, rows in results.items())
            + ".\n"
        )
    args.report.write_text("\n".join(lines), encoding="utf-8")
    args.report.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
