#!/usr/bin/env python
"""Does ``torch.compile`` make a kear training step faster on this CPU?

One kear model around the packaged MiniLM (KEAR's first-token head, one length bucket, fused AdamW, fp32, all
cores) takes full training steps (forward, backward, optimizer) of ``--batch-size`` questions x 5 choices of
random token ids, each loop in its own process so that none inherits another's compiled code:

* **eager**: as ``kear train`` runs it;
* **compiled, one width**: the encoder compiled (``nn.Module.compile``, inductor), every batch the same width:
  the best case for compilation, reached only by padding every batch to one length;
* **compiled, widths as in training**: batch widths cycling through ``--widths`` (what length-grouped batches
  give; torch recompiles once for a second width, then runs code generic in the width).

Each with attention dropout 0.1 (BERT's own) and 0 (``model.attention_dropout=0``). It reports the median of
``--steps`` timed steps after the warm-up steps (which include compiling, reported apart). Inductor's on-disk
cache is pointed at a fresh folder, so the compile times are those of a first run.

    python scripts/bench_compile.py            # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import MINILM, header, write_report

LOOPS = {  # name: (compiled, widths cycle)
    "eager, widths as in training": (False, True),
    "compiled, one width": (True, False),
    "compiled, widths as in training": (True, True),
}
DROPOUTS = (0.1, 0.0)  # BERT's own attention dropout, and model.attention_dropout=0


def measure(compiled: bool, widths: list[int], dropout: float, batch_size: int, warmup: int, steps: int) -> dict:
    """Seconds of warm-up and timed training steps of one loop (run in a fresh process by :func:`main`)."""
    import torch

    from kear.modeling import KearModel

    torch.manual_seed(0)
    model = KearModel.from_encoder(MINILM, attention_dropout=dropout, length_buckets=1).train()
    if compiled:
        model.encoder.compile()  # in place: the state dict keeps its names
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    ids = torch.randint(1000, 20000, (batch_size, 5, max(widths)))
    labels = torch.randint(0, 5, (batch_size,))

    def step(width: int) -> float:
        started = time.perf_counter()
        batch = ids[..., :width].contiguous()
        loss = model(input_ids=batch, attention_mask=torch.ones_like(batch), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - started

    order = [widths[i % len(widths)] for i in range(warmup + steps)]
    seconds = [step(width) for width in order]
    return {"warmup": sum(seconds[:warmup]), "step": statistics.median(seconds[warmup:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8, help="questions per step (x 5 choices)")
    parser.add_argument("--width", type=int, default=160, help="the one width (tokens) of the one-width loop")
    parser.add_argument(
        "--widths", default="160,144,176,152,168,136,192,128", help="batch widths cycled through, comma-separated"
    )
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps first (compiling happens in them)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps")
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks/compile.md"), help="Markdown to write")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    if args.child:
        compiled, cycle, dropout = json.loads(args.child)
        found = measure(compiled, widths if cycle else [args.width], dropout, args.batch_size, args.warmup, args.steps)
        print(json.dumps(found))
        return
    found: dict[tuple[str, float], dict] = {}
    for dropout in DROPOUTS:
        for name, (compiled, cycle) in LOOPS.items():
            with tempfile.TemporaryDirectory(prefix="kear-inductor-") as cache:
                env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "TRANSFORMERS_VERBOSITY": "error"}
                child = [sys.executable, __file__, *sys.argv[1:], "--child", json.dumps([compiled, cycle, dropout])]
                done = subprocess.run(child, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise SystemExit(f"bench_compile: {name} failed: {last}")
            found[name, dropout] = json.loads(done.stdout.strip().splitlines()[-1])
            print(name, dropout, found[name, dropout], flush=True)
    eager = "eager, widths as in training"
    mean = statistics.mean(widths)
    lines = [
        *header("torch.compile and a kear training step on the CPU"),
        f"The packaged MiniLM in a kear model, {args.batch_size} questions x 5 choices a step, fp32, fused AdamW, "
        f"{os.cpu_count()} threads; widths as in training cycle through {', '.join(map(str, widths))} tokens "
        f"(mean {mean:.0f}), the one-width loop runs at {args.width}. Median of {args.steps} "
        f"steps after {args.warmup} warm-up steps; each loop in a fresh process with an empty inductor cache.",
        "",
        "| loop | attention dropout | seconds per step | against eager | warm-up steps, s (compiling included) |",
        "|---|---:|---:|---:|---:|",
    ]
    for (name, dropout), side in found.items():
        base = found[eager, dropout]["step"]
        tokens = args.width / mean if name == "compiled, one width" else 1.0  # per token, when widths differ
        ratio = base / side["step"] * tokens
        lines.append(f"| {name} | {dropout:g} | {side['step']:.2f} | {ratio:.2f}x | {side['warmup']:.0f} |")
    dynamic = {d: found[eager, d]["step"] / found["compiled, widths as in training", d]["step"] for d in DROPOUTS}
    # one width for every batch means padding each to the longest; a step's cost grows about linearly in width here
    padded = {
        d: found[eager, d]["step"] / (found["compiled, one width", d]["step"] * max(widths) / args.width)
        for d in DROPOUTS
    }
    pays = max(*dynamic.values(), *padded.values()) >= 1.05
    lines += [
        "",
        "The one-width loop's ratio is per token (its width against the mean of the cycled widths). With the widths "
        f"that training really gives, compiling is {dynamic[0.1]:.2f}x eager with attention dropout and "
        f"{dynamic[0.0]:.2f}x without. Padding every batch to the longest width ({max(widths)}) to keep one compiled "
        f"width would be about {padded[0.1]:.2f}x and {padded[0.0]:.2f}x eager (the one-width step scaled linearly "
        "to that width)"
        + (": neither pays on this CPU, so `kear train` runs eager." if not pays else ": compiling pays here."),
        "",
    ]
    write_report(args.report, "\n".join(lines))


if __name__ == "__main__":
    main()
