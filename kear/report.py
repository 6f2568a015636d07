"""The report of ``kear ablate``: Markdown, JSON and a chart, written from the finished cells alone.

For each condition: the held-out accuracy over folds (mean and sample standard deviation), its paired
difference with the reference condition on the folds both have (mean, 95% interval from Student's t over the
folds, folds better), the chosen hyperparameters, the wall time, tokens per choice and, for each knowledge
segment, the share of choices where it survived truncation whole. KEAR's majority-relation rule is reported on
the best condition (its scores with the rule applied, on the same folds).
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Any

from retrieval.outputs import atomic_path

logger = logging.getLogger(__name__)
REPORT = "study report"  # the kind of output a study's report files are (retrieval.outputs)


def report_files(path: Path) -> list[Path]:
    """A study's report files: the Markdown at ``path``, its JSON and its chart beside it."""
    return [path, path.with_suffix(".json"), path.with_suffix(".png")]


# Student's t at 0.975 for 1 to 30 degrees of freedom: the half-width of a 95% interval is t * s / sqrt(n).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131]
T975 += [2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def interval(values: list[float]) -> tuple[float, float | None]:
    """The mean and the half-width of its 95% interval (``None`` with fewer than two values)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    t = T975[len(values) - 2] if len(values) - 1 <= len(T975) else 1.96
    return mean, t * statistics.stdev(values) / len(values) ** 0.5


def summary(cells: dict[tuple[str, int], dict], conditions: list[str], reference: str) -> dict[str, Any]:
    """Per condition: accuracies by fold, mean, std, the paired difference with ``reference``, and the rest."""
    out: dict[str, Any] = {}
    base = {fold: cell["accuracy"] for (name, fold), cell in cells.items() if name == reference}
    for name in conditions:
        mine = {fold: cell for (owner, fold), cell in cells.items() if owner == name and cell["accuracy"] is not None}
        if not mine:
            continue
        accuracies = [cell["accuracy"] for cell in mine.values()]
        shared = sorted(set(mine) & set(base))
        differences = [mine[f]["accuracy"] - base[f] for f in shared]
        mean, half = interval(differences) if differences else (None, None)
        survival: dict[str, list[float]] = {}
        for cell in mine.values():
            for segment, share in cell["survival"].items():
                survival.setdefault(segment, []).append(share)
        out[name] = {
            "folds": sorted(mine),
            "accuracy": accuracies,
            "mean": statistics.fmean(accuracies),
            "std": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
            "difference": None if mean is None or name == reference else {"mean": mean, "half_width": half},
            "folds_better": sum(d > 0 for d in differences) if name != reference else None,
            "paired_folds": len(shared),
            "selected": [mine[f]["selected"] for f in sorted(mine)],
            "seconds": sum(cell["seconds"] for cell in mine.values()),
            "tokens_per_choice": statistics.fmean(cell["tokens_per_choice"] for cell in mine.values()),
            "survival": {segment: statistics.fmean(shares) for segment, shares in survival.items()},
            "rule": _rule(mine),
        }
    return out


def _rule(cells: dict[int, dict]) -> dict | None:
    scored = [cell["rule"] for cell in cells.values() if cell.get("rule")]
    if len(scored) != len(cells):
        return None
    gains = [r["accuracy"] - c["accuracy"] for r, c in zip(scored, cells.values())]
    mean, half = interval(gains)
    return {
        "mean": statistics.fmean(r["accuracy"] for r in scored),
        "difference": {"mean": mean, "half_width": half},
        "questions": sum(r["questions"] for r in scored),
    }


def _number(value: float | None, digits: int = 3, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _difference(found: dict | None) -> str:
    if not found:
        return "–"
    half = found["half_width"]
    return _number(found["mean"], sign=True) + ("" if half is None else f" ± {half:.3f}")


def grid_edge(rates: list[float], table: dict[str, Any]) -> str | None:
    """A note when most cells (three in four or more) chose the same end of the learning-rate grid: the best rate
    for them may lie past it."""
    chosen = [s["learning_rate"] for row in table.values() for s in row["selected"]]
    if len(set(rates)) < 2 or not chosen:
        return None
    ends = {"largest": max(rates), "smallest": min(rates)}
    at = {word: sum(rate == end for rate in chosen) for word, end in ends.items()}
    word = max(at, key=at.get)
    if at[word] < 0.75 * len(chosen):
        return None
    return (
        f"{at[word]} of {len(chosen)} cells chose the {word} learning rate of the grid, {ends[word]:g}: the best "
        "rate for them may lie beyond it, and a wider `selection.learning_rates` would tell (a new grid is a new "
        "protocol: run it in its own `output_dir`)."
    )


def time_spent(table: dict[str, Any]) -> str:
    """How long the finished cells took in all: the figure to set against a study's time budget."""
    cells = sum(len(row["folds"]) for row in table.values())
    hours = sum(row["seconds"] for row in table.values()) / 3600
    return f"The {cells} finished cells took {hours:.1f} h of wall time in all (the sum of the times above)."


def markdown(study: Any, table: dict[str, Any], command: str | None, appendix: str = "") -> str:
    """The report's text."""
    reference = study.baseline
    lines = [
        "# Knowledge ablation",
        "",
        f"{len(table)} conditions; held-out accuracy over folds; differences are paired with **{reference}** "
        "(mean ± half-width of the 95% interval over the folds both ran). Hyperparameters were chosen on an inner "
        f"split ({study.selection.inner_fraction:.0%}) of each fold's training part, among learning rates "
        f"{', '.join(f'{r:g}' for r in study.selection.learning_rates)}, with evaluation after every epoch.",
        "",
        "| condition | folds | accuracy (mean ± std) | difference | folds better | tokens / choice | segments kept "
        "whole | learning rate, epochs chosen | time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in table.items():
        survival = ", ".join(f"{segment} {share:.0%}" for segment, share in row["survival"].items()) or "–"
        chosen = "; ".join(f"{s['learning_rate']:g}, {s['epochs']}" for s in row["selected"])
        better = "–" if row["folds_better"] is None else f"{row['folds_better']}/{row['paired_folds']}"
        lines.append(
            f"| {name} | {len(row['folds'])} | {_number(row['mean'])} ± {_number(row['std'])} | "
            f"{_difference(row['difference'])} | {better} | {row['tokens_per_choice']:.0f} | {survival} | {chosen} | "
            f"{row['seconds'] / 60:.1f} min |"
        )
    lines += ["", time_spent(table)]
    edge = grid_edge(study.selection.learning_rates, table)
    if edge:
        lines += ["", edge]
    ruled = {n: r for n, r in table.items() if r["rule"]}
    if ruled:
        best = max(ruled, key=lambda n: ruled[n]["mean"])
        rule = ruled[best]["rule"]
        lines += [
            "",
            f"KEAR's majority-relation rule (threshold {study.rule_threshold}) on the best condition with "
            f"relations, **{best}**: {_number(rule['mean'])} ({_difference(rule['difference'])} against the same "
            f"models without it; it acted on {rule['questions']} held-out questions).",
        ]
    if command:
        lines += ["", "Reproduce with:", "", "```bash", command, "```"]
    if appendix:
        lines += ["", appendix.strip("\n")]
    return "\n".join(lines) + "\n"


def chart(table: dict[str, Any], path: Path) -> bool:
    """A bar chart of the mean accuracies with their standard deviations; ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(table)
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
    axes.barh(names, [table[n]["mean"] for n in names], xerr=[table[n]["std"] or 0 for n in names], color="#4c72b0")
    axes.invert_yaxis()
    axes.set_xlabel("held-out accuracy")
    figure.tight_layout()
    with atomic_path(path, kind=REPORT, overwrite=True) as target:
        figure.savefig(target, format="png", dpi=100)
    plt.close(figure)
    return True


def write_report(
    study: Any, cells: dict[tuple[str, int], dict], command: str | None = None, appendix: str = ""
) -> Path:
    """The Markdown report (``appendix`` at its end), its JSON (every cell and the summary) and chart, beside each
    other."""
    from .ablate import protocol, report_path

    path, data, figure = report_files(report_path(study))
    table = summary(cells, list(study.conditions), study.baseline)
    # checked before the study ran (kear.ablate.check_study_outputs); kear's own reports from then on
    with atomic_path(path, kind=REPORT, overwrite=True) as target:
        target.write_text(markdown(study, table, command, appendix), encoding="utf-8")
    # the protocol lets a later run of the same study go on from these cells (kear.ablate.finished_cells)
    everything = {"summary": table, "protocol": protocol(study), "cells": [cells[key] for key in sorted(cells)]}
    with atomic_path(data, kind=REPORT, overwrite=True) as target:
        target.write_text(json.dumps(everything, indent=1), encoding="utf-8")
    chart(table, figure)
    logger.info("report: %s", path)
    return path
