#!/usr/bin/env python
"""Benchmark retrieval at full scale on synthetic data in the real layouts, against KEAR's own preprocessing.

In one run it:

1. generates (or reuses) a synthetic ConceptNet dump in the official five-column layout (default 34M rows,
   about 3.6M English edges, gzip), a kaikki.org-layout dictionary, and a CommonsenseQA-scale question set
   (12,102 questions x 5 choices, the first 9,741 being the training split);
2. times KEAR's preprocessing of that dump as KEAR ran it (gunzip to disk, English extraction, edge
   filtering into nested JSON), re-implemented here step by step, each step in its own process;
3. times ``kear index conceptnet`` on the compressed dump (its own process), with peak memory;
4. times annotating all 60,510 question-choice pairs with all three sources from the built indexes;
5. times rank-bm25 against bm25s on the same corpus and queries, and checks their top K are identical.

It writes a Markdown table with the command to ``--report`` and the raw figures as JSON beside it.

    python scripts/bench_retrieval.py                       # full scale (about 15 minutes, 15 GB of disk)
    python scripts/bench_retrieval.py --rows 300000 --questions 600 --train 480   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

# KEAR's wider list (its "most_edges_allweights" graph), used by its filtering step
KEAR_MORE = [
    "AtLocation",
    "LocatedNear",
    "CapableOf",
    "Causes",
    "CausesDesire",
    "MotivatedByGoal",
    "CreatedBy",
    "Desires",
    "Antonym",
    "DistinctFrom",
    "HasContext",
    "HasProperty",
    "HasSubevent",
    "HasPreRequisite",
    "Entails",
    "InstanceOf",
    "DefinedAs",
    "MadeOf",
    "PartOf",
    "HasA",
    "SimilarTo",
    "UsedFor",
]
# English relations with shares roughly as in ConceptNet 5.7
RELATIONS = {
    "RelatedTo": 0.44,
    "FormOf": 0.11,
    "DerivedFrom": 0.09,
    "Synonym": 0.07,
    "IsA": 0.07,
    "HasContext": 0.05,
    "EtymologicallyRelatedTo": 0.02,
    "SimilarTo": 0.01,
    "UsedFor": 0.012,
    "AtLocation": 0.012,
    "CapableOf": 0.01,
    "HasSubevent": 0.008,
    "HasPrerequisite": 0.007,
    "Causes": 0.006,
    "HasProperty": 0.006,
    "Antonym": 0.006,
    "PartOf": 0.005,
    "MotivatedByGoal": 0.003,
    "DistinctFrom": 0.004,
    "Desires": 0.002,
    "CausesDesire": 0.002,
    "HasA": 0.002,
    "ReceivesAction": 0.002,
    "MadeOf": 0.001,
    "dbpedia/genre": 0.001,
}
LANGUAGES = ["fr", "de", "ja", "es", "it", "ru", "pt", "nl", "fi", "zh", "sv", "pl", "la", "ms", "ca", "eo"]
SYLLABLES = np.array(
    "ba ko ri tan mel sor pi lu den ga vo zen qua fi ru mo ster nel bri cha "
    "do ve lin pa ro mi ka tor le su an el is or um ex fa go hu ne".split()
)
OMCS = (
    ', "sources": [{"activity": "/s/activity/omcs/omcs1_possibly_free_text", "contributor": "/s/contributor/omcs/x"}]'
)


# ---------------------------------------------------------------------------------------------- generation


def concept_names(count: int, rng: np.random.Generator) -> list[str]:
    """Distinct pseudo-words (four syllables from a base-40 counter), a third of them joined into phrases."""
    ids = np.arange(count) + 40**3
    parts = [SYLLABLES[(ids // 40**k) % 40] for k in range(4)]
    names = parts[0].astype(object) + parts[1] + parts[2] + parts[3]
    phrases = rng.random(count) < 0.33
    partner = rng.integers(0, count, count)
    names[phrases] = names[phrases] + "_" + names[partner[phrases]]
    return names.tolist()


def generate_dump(path: Path, rows: int, english: int, seed: int) -> dict:
    """Write the synthetic dump; return the English edges (for the question set) and counts."""
    import isal.igzip_threaded as igzip

    rng = np.random.default_rng(seed)
    names = concept_names(max(1_000, english // 3), rng)
    relations, shares = list(RELATIONS), np.array(list(RELATIONS.values()))
    shares = shares / shares.sum()
    weights = np.array([1.0, 1.0, 1.0, 2.0, 0.5, 1.5, 2.828, 3.464, 0.1, -1.0])
    suffixes = np.array(["", "", "", "/n", "/v", "/a", "/n/wn/artifact", "/v/wn/motion"])
    skew = lambda n: (len(names) * rng.random(n) ** 2.5).astype(np.int64)  # noqa: E731  (heavy-tailed degrees)
    heads, tails, rels = skew(english), skew(english), rng.choice(len(relations), english, p=shares)
    others = rows - english
    chunk = 250_000
    written = 0
    with igzip.open(path, "wb", compresslevel=1, threads=1) as out:
        for start in range(0, rows, chunk):
            size = min(chunk, rows - start)
            lines = []
            n_en = round(english * (start + size) / rows) - round(english * start / rows)
            lo = written
            for h, t, r, w, hs, ts, s in zip(
                heads[lo : lo + n_en].tolist(),
                tails[lo : lo + n_en].tolist(),
                rels[lo : lo + n_en].tolist(),
                rng.choice(weights, n_en).tolist(),
                rng.choice(suffixes, n_en).tolist(),
                rng.choice(suffixes, n_en).tolist(),
                (rng.random(n_en) < 0.3).tolist(),
            ):
                rel, head, tail = relations[r], f"/c/en/{names[h]}{hs}", f"/c/en/{names[t]}{ts}"
                text = f', "surfaceText": "[[{names[h]}]] is related to [[{names[t]}]]"' if s else ""
                info = f'{{"dataset": "/d/conceptnet/4/en", "license": "cc:by/4.0"{OMCS}{text}, "weight": {w}}}'
                lines.append(f"/a/[/r/{rel}/,{head}/,{tail}/]\t/r/{rel}\t{head}\t{tail}\t{info}\n")
            written += n_en
            n_other = size - n_en
            kinds = rng.random(n_other)
            langs = rng.choice(LANGUAGES, (n_other, 2)).tolist()
            picks = rng.integers(0, len(names), (n_other, 2)).tolist()
            for kind, (la, lb), (a, b) in zip(kinds.tolist(), langs, picks):
                if kind < 0.15:  # English start, web end
                    rel, lang = "ExternalURL", "en"
                    head, tail = f"/c/en/{names[a]}/n", f"http://dbpedia.org/resource/{names[b]}"
                elif kind < 0.35:  # one end English
                    rel, head, tail, lang = "Synonym", f"/c/{la}/{names[a][:9]}/n", f"/c/en/{names[b]}", la
                else:  # neither end English
                    rel, head, tail, lang = "RelatedTo", f"/c/{la}/{names[a][:10]}", f"/c/{lb}/{names[b][:8]}/n", la
                info = (
                    f'{{"dataset": "/d/wiktionary/{lang}", "license": "cc:by-sa/4.0", "sources": [{{"contributor": '
                    f'"/s/resource/wiktionary/{lang}", "process": "/s/process/wikiparsec/2"}}], "weight": 1.0}}'
                )
                lines.append(f"/a/[/r/{rel}/,{head}/,{tail}/]\t/r/{rel}\t{head}\t{tail}\t{info}\n")
            random.Random(start).shuffle(lines)
            out.write("".join(lines).encode())
    return {"names": names, "heads": heads, "tails": tails, "rels": rels, "relations": relations, "others": others}


def generate_questions(graph: dict, questions: int, seed: int) -> list[dict]:
    """CommonsenseQA-like records whose choices are mostly direct neighbours of the question concept."""
    rng = random.Random(seed)
    from retrieval.conceptnet import KEAR_RELATIONS

    names, ten = graph["names"], {graph["relations"].index(r) for r in KEAR_RELATIONS}
    neighbours: dict[int, set[int]] = defaultdict(set)
    for h, t, r in zip(graph["heads"].tolist(), graph["tails"].tolist(), graph["rels"].tolist()):
        if r in ten and h != t:
            neighbours[h].add(t)
    concepts = sorted(c for c, found in neighbours.items() if len(found) >= 3)
    filler = [names[i].split("_")[0] for i in range(0, len(names), max(1, len(names) // 3000))][:3000]
    out = []
    for i in range(questions):
        concept = rng.choice(concepts)
        close = sorted(neighbours[concept])
        direct = min(len(close), sum(rng.random() < 0.74 for _ in range(5)))
        picked = rng.sample(close, direct) + [rng.randrange(len(names)) for _ in range(5 - direct)]
        words = " ".join(rng.choices(filler, k=rng.randint(4, 9)))
        text = lambda c: names[c].replace("_", " ")  # noqa: E731
        stem = f"Where would the {text(concept)} {words} most likely be?"
        out.append(
            {
                "answerKey": "ABCDE"[rng.randrange(5)],
                "id": f"synthetic-{i:05d}",
                "question": {
                    "question_concept": text(concept),
                    "choices": [{"label": "ABCDE"[j], "text": text(c)} for j, c in enumerate(picked)],
                    "stem": stem,
                },
            }
        )
    return out


def generate_dictionary(path: Path, names: list[str], entries: int, seed: int) -> None:
    """A kaikki.org-layout extract: glosses for part of the vocabulary, some form_of links, both layouts."""
    rng = random.Random(seed)
    chosen = rng.sample(range(len(names)), min(entries, len(names)))
    with open(path, "w", encoding="utf-8") as out:
        for i in chosen:
            word = names[i].replace("_", " ")
            gloss = " ".join(rng.choices(names, k=rng.randint(5, 12))).replace("_", " ")
            kind = rng.random()
            if kind < 0.08:
                sense = {
                    "glosses": [f"plural of {names[rng.randrange(len(names))]}"],
                    "tags": ["form-of"],
                    "form_of": [{"word": names[rng.randrange(len(names))].replace("_", " ")}],
                }
                entry = {
                    "word": word + "s",
                    "lang": "English",
                    "lang_code": "en",
                    "pos": "noun",
                    "senses": [sense],
                    "head_templates": [{"name": "head", "args": {"1": "en", "2": "noun form"}}],
                }
            elif kind < 0.10:
                sense = {"glosses": [f"past of {word}"]}
                entry = {"word": word + "ed", "lang": "English", "pos": "verb", "heads": [{"2": "verb form"}]}
                entry["senses"] = [sense]
            else:
                senses = [{"glosses": [gloss.capitalize() + "."]} for _ in range(rng.randint(1, 3))]
                entry = {"word": word, "lang": "English", "lang_code": "en", "pos": "noun", "senses": senses}
            out.write(json.dumps(entry) + "\n")


# ------------------------------------------------------------------------------ KEAR's preprocessing, redone


def kear_extract_english(source: str, target: str) -> None:
    """KEAR's English extraction: count the lines, then keep rows whose both ends are English concepts,
    as ``relation, head, tail, weight`` with part-of-speech suffixes cut and names lowercased."""
    with open(source, encoding="utf-8") as handle:
        total = sum(1 for _ in handle)
    with open(source, encoding="utf-8") as handle, open(target, "w", encoding="utf-8") as out:
        for line in handle:
            columns = line.strip().split("\t")
            if columns[2].startswith("/c/en/") and columns[3].startswith("/c/en/"):
                relation = columns[1].split("/")[-1]
                head, tail = columns[2].split("/")[3].lower(), columns[3].split("/")[3].lower()
                out.write("\t".join([relation, head, tail, str(json.loads(columns[4])["weight"])]) + "\n")
    print(json.dumps({"lines": total}))


def kear_filter(source: str, target_dir: str, ten_relations: str) -> None:
    """KEAR's edge filtering, run twice as KEAR runs it: nested ``{head: {tail: {relation: max weight}}}`` JSON
    for its wider relation list with all weights, and for its ten relations with weight >= 1."""

    def invalid(word: str) -> bool:
        return len(word) <= 2 or len(word.split("_")) > 4

    ten = ten_relations.split(",")  # passed in, so that this process imports nothing of ours
    for relations, name, confident in ((KEAR_MORE, "most_edges_allweights", False), (ten, "filtered_edges", True)):
        wanted, edges = set(relations), {}
        with open(source, encoding="utf-8") as handle:
            for line in handle:
                relation, head, tail, weight = line.strip().split("\t")
                weight = float(weight)
                if (confident and weight < 1.0) or relation not in wanted or invalid(head) or invalid(tail):
                    continue
                per_relation = edges.setdefault(head, {}).setdefault(tail, defaultdict(int))
                per_relation[relation] = max(per_relation[relation], weight)
        with open(Path(target_dir) / f"{name}.json", "w", encoding="utf-8") as out:
            json.dump(edges, out)


def ours_ingest(source: str, target: str) -> None:
    import resource

    from retrieval import ConceptNetIndex, ingest_conceptnet

    started = time.perf_counter()
    report = ingest_conceptnet(source, target, progress=False)
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index = ConceptNetIndex(target)
    index.edges_between(0, 0)
    open_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "edges": report.edges,
                "concepts": report.concepts,
                "rows": report.rows,
                "english_rows": report.english_rows,
                "ingest_seconds": ingest_seconds,
                "open_seconds": open_seconds,
                "self_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "helper_max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


STAGES = {"kear-extract": kear_extract_english, "kear-filter": kear_filter, "ours-ingest": ours_ingest}


# A minimal process that runs the measured one: a child's peak RSS counts what it inherited at fork, so the
# measured command must be forked from something small, not from this script. It also samples the summed
# RSS of the command and all its descendants every 20 ms: the memory the job really holds at once.
LAUNCHER = """
import json, os, subprocess, sys, threading, time

def tree_rss_mb(pid):
    # resident memory of a process and all its descendants, from /proc
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except (OSError, StopIteration):
            pass
    return total / 1024

out = open(sys.argv[1], "wb") if sys.argv[1] != "-" else subprocess.PIPE
started = time.perf_counter()
process = subprocess.Popen(sys.argv[2:], stdout=out)
peak = [0.0]
def sample():
    while process.poll() is None:
        peak[0] = max(peak[0], tree_rss_mb(process.pid))
        time.sleep(0.02)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
output = process.stdout.read().decode() if out is subprocess.PIPE else ""
_, status, usage = os.wait4(process.pid, 0)
print(output)
print(json.dumps({"seconds": time.perf_counter() - started, "max_rss_mb": usage.ru_maxrss / 1024,
                  "peak_tree_rss_mb": peak[0], "status": os.waitstatus_to_exitcode(status)}))
"""


def measured(command: list[str], stdout: Path | None = None) -> dict:
    """Run a command in its own process: wall time, peak RSS (MB), and the JSON it printed last, if any."""
    launcher = [sys.executable, "-S", "-c", LAUNCHER, str(stdout) if stdout else "-"]
    lines = [line for line in subprocess.run(launcher + command, capture_output=True, text=True).stdout.splitlines()]
    figures = json.loads(lines[-1])
    if figures.pop("status") != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed")
    printed = [line for line in lines[:-1] if line.startswith("{")]
    return {**figures, **(json.loads(printed[-1]) if printed else {})}


def warm(path: Path) -> None:
    """Read a file once so that each measured step starts with it in the page cache, as the first one did."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def stage(name: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--stage", name, *args]


# ------------------------------------------------------------------------------------------------ measuring


def bench_annotation(work: Path, indexes: dict, train: Path, questions: Path) -> dict:
    from retrieval import RetrievalConfig, RetrievalReport, annotate, read_records

    config = RetrievalConfig(use_cache=False)
    config.conceptnet.index = str(indexes["conceptnet"])
    config.dictionary.indexes = [str(indexes["dictionary"])]
    config.examples.corpora = [str(train)]
    records = list(read_records(questions))
    report = RetrievalReport()
    started = time.perf_counter()
    for _ in annotate(records, config, report=report, progress=False):
        pass
    seconds = time.perf_counter() - started
    return {"records": report.records, "pairs": report.choices, "seconds": seconds, "found": report.found}


def bench_bm25(train: Path, questions: Path, reference_records: int) -> dict:
    from retrieval import ExamplesConfig, read_records
    from retrieval.examples import ExampleRetriever, load_corpus

    corpus = load_corpus([train])
    records = list(read_records(questions))
    figures = {}
    for backend, subset in (("bm25s", records), ("rank_bm25", records[:reference_records])):
        started = time.perf_counter()
        retriever = ExampleRetriever(corpus, ExamplesConfig(backend=backend))
        build = time.perf_counter() - started
        started = time.perf_counter()
        found = [retriever.positions(record) for record in subset]
        seconds = time.perf_counter() - started
        pairs = sum(len(record.choices) for record in subset)
        figures[backend] = {"pairs": pairs, "seconds": seconds, "build_seconds": build, "found": found}
    compared = len(figures["rank_bm25"]["found"])
    identical = figures["bm25s"]["found"][:compared] == figures["rank_bm25"]["found"]
    per_pair = {b: figures[b]["seconds"] / figures[b]["pairs"] for b in figures}
    return {
        "documents": len(corpus),
        "bm25s": {k: v for k, v in figures["bm25s"].items() if k != "found"},
        "rank_bm25": {k: v for k, v in figures["rank_bm25"].items() if k != "found"},
        "identical_top_k": identical,
        "compared_pairs": figures["rank_bm25"]["pairs"],
        "speedup": per_pair["rank_bm25"] / per_pair["bm25s"],
    }


def report_markdown(results: dict, command: str) -> str:
    kear, ours, ann, bm = results["kear"], results["ours"], results["annotation"], results["bm25"]
    kear_total = sum(kear[s]["seconds"] for s in ("gunzip", "extract", "filter"))
    ours_peak = ours["peak_tree_rss_mb"]  # both processes together, sampled
    found = ann["found"]
    data = results["data"]
    return "\n".join(
        [
            "# Retrieval benchmark",
            "",
            f"Measured {results['date']} on {results['machine']}, by:",
            "",
            f"    {command}",
            "",
            f"Synthetic data in the real layouts: a ConceptNet dump of {data['rows']:,} rows "
            f"({data['gz_mb']:,.0f} MB gzip, {ours['english_rows']:,} English-English rows, {ours['edges']:,} distinct "
            f"English edges after merging duplicates), {data['questions']:,} questions x 5 choices "
            f"({data['train']:,} of them the BM25 training corpus), and a kaikki-layout dictionary of "
            f"{data['dictionary_entries']:,} entries.",
            "",
            "## ConceptNet ingest: compressed dump to queryable index",
            "",
            "| pipeline | step | seconds | peak RSS (MB) |",
            "|---|---|---:|---:|",
            f"| KEAR | gunzip to disk | {kear['gunzip']['seconds']:.1f} | {kear['gunzip']['max_rss_mb']:.0f} |",
            f"| KEAR | English extraction (`extract_english_cpnet.py`) | {kear['extract']['seconds']:.1f} | "
            f"{kear['extract']['max_rss_mb']:.0f} |",
            f"| KEAR | edge filtering, both graphs (`extract_all.py`) | {kear['filter']['seconds']:.1f} | "
            f"{kear['filter']['max_rss_mb']:.0f} |",
            f"| **KEAR** | **total** | **{kear_total:.1f}** | {max(k['max_rss_mb'] for k in kear.values()):.0f} |",
            "| **kear** | **ingest to an opened index (`kear index conceptnet`, whole process)** | "
            f"**{ours['seconds']:.1f}** | **{ours_peak:.0f}** (each process's own peak: "
            f"{ours['self_max_rss_mb']:.0f} main, {ours['helper_max_rss_mb']:.0f} helper) |",
            f"| kear | of which: ingest {ours['ingest_seconds']:.1f} s, "
            f"opening the index {ours['open_seconds']:.2f} s | | |",
            "",
            f"**Speed-up: {kear_total / ours['seconds']:.2f}x** (target: 2x, at 1 GB peak or less; peak RSS of kear "
            "is the summed RSS of its two processes, sampled every 20 ms). "
            "KEAR keeps only its relation lists; kear keeps every English edge, so the relations can change at "
            "query time without rebuilding.",
            "",
            "## Annotation from built indexes, all three sources",
            "",
            "| pairs | seconds | pairs per second | triples found | meanings found | example lists found |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {ann['pairs']:,} | {ann['seconds']:.1f} | {ann['pairs'] / ann['seconds']:,.0f} | "
            f"{found.get('triple', 0):,} | {found.get('ac_meaning', 0) + found.get('qc_meaning', 0):,} | "
            f"{found.get('retrieval', 0):,} |",
            "",
            f"Includes opening the indexes and building BM25 over the {bm['documents']:,} training documents "
            "(target: 60,510 pairs in 20 s or less). "
            f"The dictionary index took {results['dictionary_seconds']:.1f} s to build.",
            "",
            "## BM25: rank-bm25 against bm25s, same corpus, same queries, same exclusions",
            "",
            "| backend | pairs | seconds | ms per pair | index build (s) |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {name} | {bm[name]['pairs']:,} | {bm[name]['seconds']:.1f} | "
                f"{1000 * bm[name]['seconds'] / bm[name]['pairs']:.3f} | {bm[name]['build_seconds']:.2f} |"
                for name in ("rank_bm25", "bm25s")
            ),
            "",
            f"**bm25s is {bm['speedup']:.0f}x faster per pair** (target: 20x); top K identical on the "
            f"{bm['compared_pairs']:,} pairs both ranked: **{bm['identical_top_k']}**.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=34_000_000, help="rows in the synthetic dump")
    parser.add_argument("--english", type=float, default=0.106, help="share of English-English rows")
    parser.add_argument("--questions", type=int, default=12_102, help="questions (x5 choices)")
    parser.add_argument("--train", type=int, default=9_741, help="of which training questions (the BM25 corpus)")
    parser.add_argument("--dictionary", type=int, default=500_000, help="dictionary entries")
    parser.add_argument("--rank-bm25-records", type=int, default=600, help="records ranked by rank-bm25 (slow)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kear-bench"), help="where data and indexes go")
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks/retrieval.md"), help="Markdown out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        STAGES[args.stage](*args.paths)
        return

    work = args.workdir / f"rows{args.rows}-q{args.questions}-seed{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    dump, questions, train, dictionary = (
        work / n for n in ("assertions.csv.gz", "questions.jsonl", "train.jsonl", "kaikki.jsonl")
    )
    started = time.perf_counter()
    if not (work / "data.done").exists():
        print(f"generating synthetic data in {work} ...", flush=True)
        graph = generate_dump(dump, args.rows, int(args.rows * args.english), args.seed)
        records = generate_questions(graph, args.questions, args.seed)
        for path, part in ((questions, records), (train, records[: args.train])):
            path.write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
        generate_dictionary(dictionary, graph["names"], args.dictionary, args.seed)
        (work / "data.done").write_text("ok")
        print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)

    print("KEAR's preprocessing ...", flush=True)
    plain = work / "kear" / "assertions.csv"
    plain.parent.mkdir(exist_ok=True)
    warm(dump)
    kear = {"gunzip": measured(["gzip", "-dc", str(dump)], stdout=plain)}
    kear["extract"] = measured(stage("kear-extract", str(plain), str(work / "kear" / "conceptnet.en.csv")))
    from retrieval.conceptnet import KEAR_RELATIONS

    ten = ",".join(KEAR_RELATIONS)
    kear["filter"] = measured(stage("kear-filter", str(work / "kear" / "conceptnet.en.csv"), str(work / "kear"), ten))
    shutil.rmtree(work / "kear")  # 10 GB: do not leave it behind
    print("kear index conceptnet ...", flush=True)
    warm(dump)
    ours = measured(stage("ours-ingest", str(dump), str(work / "indexes" / "conceptnet")))

    from retrieval import ingest_wiktionary

    print("dictionary index and annotation ...", flush=True)
    started = time.perf_counter()
    ingest_wiktionary(dictionary, work / "indexes" / "wiktionary", progress=False)
    dictionary_seconds = time.perf_counter() - started
    indexes = {"conceptnet": work / "indexes" / "conceptnet", "dictionary": work / "indexes" / "wiktionary"}
    annotation = bench_annotation(work, indexes, train, questions)
    print("BM25 backends ...", flush=True)
    bm25 = bench_bm25(train, questions, args.rank_bm25_records)

    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}",
        "data": {
            "rows": args.rows,
            "gz_mb": dump.stat().st_size / 2**20,
            "questions": args.questions,
            "train": args.train,
            "dictionary_entries": args.dictionary,
        },
        "kear": kear,
        "ours": ours,
        "annotation": annotation,
        "bm25": bm25,
        "dictionary_seconds": dictionary_seconds,
    }
    command = "python scripts/bench_retrieval.py " + shlex.join(sys.argv[1:])
    markdown = report_markdown(results, command.strip())
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(markdown, encoding="utf-8")
    args.report.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(markdown)


if __name__ == "__main__":
    main()
