#!/usr/bin/env python
"""Benchmark retrieval at full scale on synthetic data in the real layouts, against KEAR's own preprocessing.

In one run it:

1. generates (or reuses) a synthetic ConceptNet dump in the official five-column layout (default 34M rows,
   about 3.6M English edges, gzip), a kaikki.org-layout dictionary, and a CommonsenseQA-scale question set
   (12,102 questions x 5 choices, the first 9,741 being the training split);
2. runs KEAR's own ConceptNet preprocessing on that dump as KEAR's ``preprocess/download_data.sh`` runs it
   (``gzip -d``, ``python extract_english_cpnet.py``, ``python extract_all.py``, from ``preprocess/``), each
   step in its own process, with wall time and peak memory. The scripts are copied at run time from a fetched
   snapshot of https://github.com/microsoft/KEAR (``--kear``: its git directory or a checkout); they are never
   kept in this repository. Without ``--kear`` that part is skipped, and the report says so;
3. times ``kear index conceptnet`` on the compressed dump against inflating the same file alone with each
   decompressor kear ships (ISA-L, as kear reads it and as ``python -m isal.igzip``) and with ``gzip``,
   ``--repeats`` times, interleaved, so that a busy machine slows both alike; the ratio uses the fastest;
4. times annotating all 60,510 question-choice pairs with all three sources from the built indexes;
5. times rank-bm25 against bm25s on the same corpus and queries, and checks their top K are identical.

With ``--scaling`` it instead measures the ingest (and inflating alone) at 1/8, 1/4, 1/2 and all of ``--rows``,
each size its own synthetic dump, and puts that table in the same report.

It writes Markdown to ``--report`` and the raw figures as JSON beside it; each section names its command.

    python scripts/bench_retrieval.py --kear /path/to/KEAR/git   # full scale (about 20 minutes, 15 GB of disk)
    python scripts/bench_retrieval.py --scaling --kear /path/to/KEAR/git         # the ingest scaling table
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
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

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
LINEAR_WITHIN = 0.1  # a size further than this share of its cost from the fitted line is not on a line
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


def english_graph(english: int, seed: int) -> dict:
    """The dump's English edges (names, heads, tails, relations), and the generator that goes on to write it."""
    rng = np.random.default_rng(seed)
    names = concept_names(max(1_000, english // 3), rng)
    relations, shares = list(RELATIONS), np.array(list(RELATIONS.values()))
    shares = shares / shares.sum()
    skew = lambda n: (len(names) * rng.random(n) ** 2.5).astype(np.int64)  # noqa: E731  (heavy-tailed degrees)
    heads, tails, rels = skew(english), skew(english), rng.choice(len(relations), english, p=shares)
    return {"names": names, "heads": heads, "tails": tails, "rels": rels, "relations": relations, "rng": rng}


def generate_dump(path: Path, rows: int, english: int, seed: int) -> None:
    """Write the synthetic dump: ``english`` English-English rows among ``rows``."""
    import isal.igzip_threaded as igzip

    graph = english_graph(english, seed)
    rng, names, relations = graph["rng"], graph["names"], graph["relations"]
    heads, tails, rels = graph["heads"], graph["tails"], graph["rels"]
    weights = np.array([1.0, 1.0, 1.0, 2.0, 0.5, 1.5, 2.828, 3.464, 0.1, -1.0])
    suffixes = np.array(["", "", "", "/n", "/v", "/a", "/n/wn/artifact", "/v/wn/motion"])
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


# ------------------------------------------------------------------------------------ KEAR's own preprocessing

KEAR_DUMP = "conceptnet-assertions-5.7.0.csv.gz"  # the name download_data.sh downloads it as
KEAR_SCRIPTS = ("preprocess/download_data.sh", "preprocess/extract_english_cpnet.py", "preprocess/extract_all.py")
# the ConceptNet lines of download_data.sh, as they run from preprocess/; its other lines download data (the
# synthetic dump stands in for ConceptNet's) or build the Wiktionary dictionary, which is not timed here
KEAR_STEPS = (
    ("gzip -d ../data/kear/conceptnet-assertions-5.7.0.csv.gz", ["gzip", "-d", f"../data/kear/{KEAR_DUMP}"]),
    ("python extract_english_cpnet.py", ["python", "extract_english_cpnet.py"]),
    ("python extract_all.py", ["python", "extract_all.py"]),
)


def git(source: Path, *args: str) -> str:
    """Output of git on a repository given as its git directory or as a checkout."""
    where = ["-C", str(source)] if (source / ".git").exists() else ["--git-dir", str(source)]
    return subprocess.run(["git", *where, *args], check=True, capture_output=True, text=True).stdout


def kear_tree(source: Path, root: Path, dump: Path) -> dict:
    """Lay KEAR's preprocessing out under ``root`` as its scripts expect it (``preprocess/`` and ``data/kear/``,
    the synthetic dump in place of the downloaded one), the scripts copied from the snapshot ``source``."""
    (root / "preprocess").mkdir(parents=True)
    (root / "data" / "kear").mkdir(parents=True)
    for name in KEAR_SCRIPTS:
        target = root / name
        if (source / name).is_file():  # a checkout
            shutil.copyfile(source / name, target)
        else:  # a git directory, as `fetch` brings it
            target.write_text(git(source, "show", f"HEAD:{name}"), encoding="utf-8")
    script = (root / "preprocess" / "download_data.sh").read_text(encoding="utf-8")
    missing = [shown for shown, _ in KEAR_STEPS if shown not in script]
    if missing:
        raise SystemExit(f"bench: KEAR's download_data.sh no longer runs {missing}; compare it with KEAR_STEPS")
    shutil.copyfile(dump, root / "data" / "kear" / KEAR_DUMP)  # gzip -d replaces the file it inflates
    try:
        commit = git(source, "rev-parse", "HEAD").strip()
    except subprocess.CalledProcessError:
        commit = "unknown"
    return {"commit": commit, "source": "microsoft/KEAR"}  # the commit says which; the local path is this machine's


def run_kear(source: Path, work: Path, dump: Path) -> dict:
    """KEAR's three ConceptNet steps, each timed in its own process; its outputs are removed afterwards."""
    root = work / "kear"
    shutil.rmtree(root, ignore_errors=True)
    figures: dict = {"snapshot": kear_tree(source, root, dump), "steps": []}
    python = Path(sys.executable).parent  # `python` as KEAR's lines say it: this interpreter (it has tqdm)
    environment = {**os.environ, "PATH": f"{python}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        warm(root / "data" / "kear" / KEAR_DUMP)
        for shown, command in KEAR_STEPS:
            print(f"  KEAR: {shown} ...", flush=True)
            step = measured(command, cwd=root / "preprocess", env=environment)
            figures["steps"].append({"step": shown, **step})
        outputs = root / "data" / "kear"
        figures["outputs"] = {p.name: p.stat().st_size for p in sorted(outputs.iterdir())}
    finally:
        shutil.rmtree(root, ignore_errors=True)  # 10 GB inflated: do not leave it behind
    return figures


# ------------------------------------------------------------------------------------------------ stages


def inflate(source: str, reader: str) -> None:
    """Inflate a gzip file and throw the bytes away, 1 MiB at a time: kear's own reader, or rapidgzip."""
    buffer = bytearray(1 << 20)
    if reader == "rapidgzip":
        import rapidgzip

        handle = rapidgzip.open(source, parallelization=os.cpu_count() or 1)
    else:
        from retrieval.io import open_binary

        handle = open_binary(source, threaded=False)
    total = 0
    with handle:
        while read := handle.readinto(buffer):
            total += read
    print(json.dumps({"bytes": total}))


def parse(source: str) -> None:
    """Split every row of the dump into its five columns with pyarrow's CSV reader (C++, multi-threaded; installed
    with datasets), fed by kear's ISA-L reader, and count the English-English rows; nothing is kept. The floor of
    an ingest built on a compiled parser that kear could ship: it does less than the ingest, not more."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    from retrieval.io import open_binary

    names = ["uri", "relation", "start", "end", "info"]
    options = {
        "read_options": csv.ReadOptions(column_names=names, block_size=16 << 20, use_threads=True),
        "parse_options": csv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False, double_quote=False),
        "convert_options": csv.ConvertOptions(column_types=dict.fromkeys(names, pa.binary())),
    }
    rows = english = 0
    with open_binary(source, threaded=False) as handle:
        for batch in csv.open_csv(handle, **options):
            rows += batch.num_rows
            both = pc.and_(pc.starts_with(batch["start"], "/c/en/"), pc.starts_with(batch["end"], "/c/en/"))
            english += pc.sum(both).as_py() or 0
    print(json.dumps({"rows": rows, "english_rows": english}))


def open_index(folder: str) -> None:
    from retrieval import ConceptNetIndex

    started = time.perf_counter()
    index = ConceptNetIndex(folder)
    index.edges_between(0, 0)
    meta = index.meta
    print(
        json.dumps(
            {
                "open_seconds": time.perf_counter() - started,
                "edges": meta["edges"],
                **{key: meta[key] for key in ("concepts", "rows", "english_rows")},
            }
        )
    )


def ingest_phases(source: str, output: str) -> None:
    """Ingest in this process and print the wall seconds of each of its steps (see ``IngestReport.phases``)."""
    from retrieval import ingest_conceptnet

    shutil.rmtree(output, ignore_errors=True)
    report = ingest_conceptnet(source, output, progress=False)
    print(json.dumps({"phases": report.phases, "total_seconds": report.seconds}))


STAGES = {"inflate": inflate, "parse": parse, "open-index": open_index, "ingest-phases": ingest_phases}


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
process = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.PIPE)
peak, reaped = [0.0], threading.Event()
def sample():
    # never process.poll(): it reaps the child, and the wait4 below then fails with ECHILD
    while not reaped.is_set():
        peak[0] = max(peak[0], tree_rss_mb(process.pid))
        time.sleep(0.02)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
errors = []  # read beside stdout, so that neither pipe fills while the other is read
reader = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)
reader.start()
output = process.stdout.read().decode() if out is subprocess.PIPE else ""
_, status, usage = os.wait4(process.pid, 0)
reaped.set()
reader.join()
sys.stderr.write(errors[0].decode(errors="replace")[-2000:])
print(output)
print(json.dumps({"seconds": time.perf_counter() - started, "max_rss_mb": usage.ru_maxrss / 1024,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_tree_rss_mb": peak[0],
                  "status": os.waitstatus_to_exitcode(status)}))
"""


def measured(command: list[str], stdout: str = "-", cwd: Path | None = None, env: dict | None = None) -> dict:
    """Run a command in its own process: wall time, CPU time (its own and its children's), peak RSS (MB) of the
    process and of its whole tree, and the JSON it printed last, if any. ``stdout`` is a file to send its
    output to (``-``: read it here)."""
    launcher = [sys.executable, "-S", "-c", LAUNCHER, stdout]
    done = subprocess.run(launcher + command, capture_output=True, text=True, cwd=cwd, env=env)
    lines = done.stdout.splitlines()
    figures = json.loads(lines[-1]) if done.returncode == 0 and lines else {"status": "no figures"}
    if figures.pop("status") != 0:  # what the command (or the launcher) wrote to stderr last says why
        said = done.stderr.strip().splitlines()[-5:]
        raise SystemExit(f"bench: {' '.join(command)} failed: " + " | ".join(said))
    printed = [line for line in lines[:-1] if line.startswith("{")]
    return {**figures, **(json.loads(printed[-1]) if printed else {})}


def warm(path: Path) -> None:
    """Read a file once so that each measured step starts with it in the page cache, as the first one did."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def stage(name: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--stage", name, *args]


def decompressors() -> dict[str, tuple[list[str], bool]]:
    """How to inflate a dump alone, by name: (the command's start, whether kear ships it)."""
    ways = {
        "ISA-L, kear's reader (`isal`, 1 MiB `readinto`)": (stage("inflate", "{dump}", "isal"), True),
        "ISA-L's command line (`python -m isal.igzip -dc`)": (
            [sys.executable, "-m", "isal.igzip", "-dc", "{dump}"],
            True,
        ),
        "`gzip -dc`": (["gzip", "-dc", "{dump}"], False),
    }
    try:
        import rapidgzip  # noqa: F401  (not a kear dependency: measured when installed, for comparison)

        ways[f"rapidgzip, {os.cpu_count()} threads (not shipped)"] = (stage("inflate", "{dump}", "rapidgzip"), False)
    except ImportError:
        pass
    return ways


# Rows beside the decompressors: what splitting every row with a compiled parser costs, with nothing built, and
# what a compiled filter that splits no row but the English ones costs, fed through a pipe.
INGEST_TARGET = 1.5  # the ingest's wall time against inflating the same dump alone, at most
PARSE_FLOOR = "pyarrow's CSV reader (C++, multi-threaded) on kear's ISA-L stream: rows split, nothing kept"
FILTER_FLOOR = "ISA-L's command line piped into `grep -c -P` of the English-English rows: rows counted, none split"
ENGLISH_ROWS = r"^[^\t]*\t[^\t]*\t/c/en/[^\t]*\t/c/en/"


def filter_command(dump: Path) -> list[str]:
    """``python -m isal.igzip -dc DUMP | LC_ALL=C grep -c -P ENGLISH_ROWS``: the shell's two processes."""
    inflating = f'{shlex.quote(sys.executable)} -m isal.igzip -dc "$0"'
    pipeline = f"{inflating} | LC_ALL=C grep -c -P {shlex.quote(ENGLISH_ROWS)}"
    return ["bash", "-c", pipeline, str(dump)]


def ingest_command(dump: Path, output: Path) -> list[str]:
    """`kear index conceptnet`, as a user runs it."""
    command = [sys.executable, "-m", "kear.cli", "index", "conceptnet", str(dump), "--output", str(output)]
    return [*command, "--no-progress"]


def ingest_against_inflating(
    dump: Path, output: Path, repeats: int, ways: dict | None = None, floors: bool = True
) -> dict:
    """``repeats`` rounds, each inflating the dump alone with every decompressor and then ingesting it: wall time,
    CPU time and peak memory of each run, and the best and median of each. With ``floors``, each round also times
    the parsing and filtering floors, and one more ingest says where its time goes."""
    ways = decompressors() if ways is None else ways
    runs: dict[str, list[dict]] = defaultdict(list)
    for round_ in range(repeats):
        print(f"  round {round_ + 1} of {repeats}: inflating alone, then kear index conceptnet ...", flush=True)
        for name, (command, _) in ways.items():
            warm(dump)
            runs[name].append(measured([part.replace("{dump}", str(dump)) for part in command], stdout="/dev/null"))
        if floors:
            warm(dump)
            runs[PARSE_FLOOR].append(measured(stage("parse", str(dump))))
        if floors and shutil.which("grep"):
            warm(dump)
            runs[FILTER_FLOOR].append(measured(filter_command(dump), stdout="/dev/null"))
        warm(dump)
        shutil.rmtree(output, ignore_errors=True)
        runs["kear"].append(measured(ingest_command(dump, output)))
    phases = None
    if floors:
        warm(dump)
        phases = measured(stage("ingest-phases", str(dump), str(output)))
    opened = measured(stage("open-index", str(output)))
    summary = {
        name: {
            "best_seconds": min(r["seconds"] for r in results),
            "median_seconds": statistics.median(r["seconds"] for r in results),
            "best_cpu_seconds": min(r["cpu_seconds"] for r in results),
            "peak_tree_rss_mb": max(r["peak_tree_rss_mb"] for r in results),
            "shipped": ways[name][1] if name in ways else name == "kear",
            "runs": results,
        }
        for name, results in runs.items()
    }
    shipped = [name for name, (_, ships) in ways.items() if ships]
    fastest = min(shipped, key=lambda name: summary[name]["best_seconds"])
    kear = summary["kear"]
    return {
        "decompressors": summary,
        "fastest": fastest,
        "ratio_best": kear["best_seconds"] / summary[fastest]["best_seconds"],
        "ratio_median": kear["median_seconds"] / summary[fastest]["median_seconds"],
        "index": opened,
        "phases": phases,
        "repeats": repeats,
    }


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


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()} (load {load:.1f})"


def kear_section(results: dict) -> list[str]:
    kear, ours = results.get("kear"), results["ingest"]
    kear_row = ours["decompressors"]["kear"]
    if kear is None:
        return [
            "## ConceptNet preprocessing: KEAR's own scripts against `kear index conceptnet`",
            "",
            "Not run: give `--kear` the path of a fetched snapshot of https://github.com/microsoft/KEAR. "
            f"Speed-up against KEAR: not measured. `kear index conceptnet` took {kear_row['best_seconds']:.1f} s.",
            "",
        ]
    steps = kear["steps"]
    total = sum(step["seconds"] for step in steps)
    gzip_alone = ours["decompressors"].get("`gzip -dc`", {}).get("best_seconds")
    inflated = kear["outputs"].get(KEAR_DUMP.removesuffix(".gz"), 0)
    names = {
        "gzip -d": "inflate to disk, in place",
        "python extract_english_cpnet.py": "English rows to `conceptnet.en.csv` (counts the lines first)",
        "python extract_all.py": "both graphs to nested JSON (`most_edges_allweights`, `filtered_edges`)",
    }
    rows = []
    for step in steps:
        what = next(text for start, text in names.items() if step["step"].startswith(start))
        rows.append(
            f"| KEAR | `{step['step']}`: {what} | {step['seconds']:.1f} | {step['cpu_seconds']:.1f} | "
            f"{step['peak_tree_rss_mb']:.0f} |"
        )
    snapshot = kear["snapshot"]
    return [
        "## ConceptNet preprocessing: KEAR's own scripts against `kear index conceptnet`",
        "",
        f"KEAR's scripts ran unchanged, copied at run time from microsoft/KEAR at commit `{snapshot['commit'][:12]}` "
        "into a scratch folder laid out as they expect (`preprocess/` with the scripts, `data/kear/` with the dump "
        f"named `{KEAR_DUMP}`), each line of `preprocess/download_data.sh` that concerns ConceptNet run from "
        "`preprocess/` as that script runs it. The only differences from KEAR's own run: the synthetic dump stands "
        "in for the `wget` download, `python` is this interpreter (3.11, with tqdm), and the Wiktionary lines are "
        "not run. No script was edited.",
        "",
        "| pipeline | step | seconds | CPU seconds | peak RSS (MB) |",
        "|---|---|---:|---:|---:|",
        *rows,
        f"| **KEAR** | **total** | **{total:.1f}** | {sum(s['cpu_seconds'] for s in steps):.1f} | "
        f"{max(s['peak_tree_rss_mb'] for s in steps):.0f} |",
        f"| **kear** | **`kear index conceptnet` (whole process, best of {ours['repeats']})** | "
        f"**{kear_row['best_seconds']:.1f}** | {kear_row['best_cpu_seconds']:.1f} | "
        f"**{kear_row['peak_tree_rss_mb']:.0f}** |",
        "",
        f"**Speed-up: {total / kear_row['best_seconds']:.2f}x** against KEAR's steps as KEAR runs them. "
        + (
            f"Of KEAR's {steps[0]['seconds']:.1f} s for `gzip -d`, inflating alone takes {gzip_alone:.1f} s "
            f"(`gzip -dc` to `/dev/null`, same run): the rest is writing the {inflated / 2**30:.1f} GiB it inflates "
            "to disk, which varies with the disk. "
            if gzip_alone
            else ""
        )
        + "KEAR keeps only its relation lists; kear keeps every English edge, so the relations can change at "
        "query time without rebuilding. Peak RSS is the summed RSS of a step's processes, sampled every 20 ms.",
        "",
    ]


def ingest_section(results: dict) -> list[str]:
    ours = results["ingest"]
    table = ours["decompressors"]
    fastest = table[ours["fastest"]]
    rows = [
        f"| {name} | {row['best_seconds']:.1f} | {row['median_seconds']:.1f} | {row['best_cpu_seconds']:.1f} | "
        f"{row['peak_tree_rss_mb']:.0f} |"
        for name, row in table.items()
        if name != "kear"
    ]
    kear = table["kear"]
    index = ours["index"]
    return [
        "## Ingest against inflating the same file alone",
        "",
        f"Each of {ours['repeats']} rounds inflates the dump with every decompressor (output thrown away), then "
        "runs `kear index conceptnet` on it; the file is read once before each run so that all start from the "
        "page cache.",
        "",
        "| run | best (s) | median (s) | CPU (s, best) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
        *rows,
        f"| **`kear index conceptnet`** | **{kear['best_seconds']:.1f}** | {kear['median_seconds']:.1f} | "
        f"{kear['best_cpu_seconds']:.1f} | **{kear['peak_tree_rss_mb']:.0f}** |",
        "",
        f"**Ingest / fastest shipped decompressor alone ({ours['fastest']}): {ours['ratio_best']:.2f}x** "
        f"(best against best; {ours['ratio_median']:.2f}x median against median; target {INGEST_TARGET}x): "
        + (
            "the target is met. "
            if ours["ratio_best"] <= INGEST_TARGET
            else f"the target is missed by {ours['ratio_best'] - INGEST_TARGET:.2f}x. "
        )
        + f"CPU: the ingest uses {kear['best_cpu_seconds']:.1f} s against {fastest['best_cpu_seconds']:.1f} s "
        f"for inflating alone; on {os.cpu_count()} cores its wall time cannot fall below "
        f"{kear['best_cpu_seconds'] / (os.cpu_count() or 1):.1f} s, "
        f"{kear['best_cpu_seconds'] / (os.cpu_count() or 1) / fastest['best_seconds']:.2f}x the fastest inflating. "
        "One thread inflates while the other scans with compiled loops (`retrieval/conceptnet/scan.py`, numba), "
        "each taking part of the other's work when it is ahead; merging duplicate edges and writing the index "
        "then run on one core. "
        + (parse_sentence(table[PARSE_FLOOR], fastest, kear) if PARSE_FLOOR in table else "")
        + (filter_sentence(table[FILTER_FLOOR], fastest, kear) if FILTER_FLOOR in table else "")
        + (phases_sentence(ours["phases"], fastest) if ours.get("phases") else "")
        + f"The index ({index['edges']:,} edges, {index['concepts']:,} concepts) opens in "
        f"{index['open_seconds']:.2f} s.",
        "",
    ]


def parse_sentence(parse: dict, fastest: dict, kear: dict) -> str:
    """What the parsing floor says about the target: how far a compiled parser that builds nothing is from it."""
    floor = parse["best_seconds"] / fastest["best_seconds"]
    left = INGEST_TARGET * fastest["best_seconds"] - parse["best_seconds"]
    verdict = (
        f"so no ingest built on it could meet {INGEST_TARGET}x here"
        if floor > INGEST_TARGET
        else f"which leaves {left:.1f} s of the target for everything an ingest built on it would do beyond that"
    )
    return (
        f"Splitting the rows alone with pyarrow's compiled, multi-threaded CSV reader (it ships with datasets), "
        f"fed by the same ISA-L stream and keeping nothing, takes {parse['best_seconds']:.1f} s "
        f"({parse['best_cpu_seconds']:.1f} s CPU), {floor:.2f}x the fastest inflating, {verdict}; "
        f"kear's ingest, which splits the rows too and builds the index, takes "
        f"{kear['best_seconds'] / parse['best_seconds']:.2f}x that. "
    )


def filter_sentence(grep: dict, fastest: dict, kear: dict) -> str:
    """What a compiled filter that splits only the English rows costs when it reads the inflated dump from a pipe."""
    floor = grep["best_seconds"] / fastest["best_seconds"]
    verdict = (
        f"so filtering first in another process cannot meet {INGEST_TARGET}x either, whatever is built afterwards: "
        "moving the inflated bytes through a pipe costs more than the target allows"
        if floor > INGEST_TARGET
        else f"so a filter-first ingest could meet {INGEST_TARGET}x if what it builds afterwards fits in the rest"
    )
    return (
        f"A filter that splits no row but the English ones, `grep -P` reading ISA-L's output from a pipe, takes "
        f"{grep['best_seconds']:.1f} s ({grep['best_cpu_seconds']:.1f} s CPU), {floor:.2f}x the fastest inflating "
        f"and {grep['best_seconds'] / kear['best_seconds']:.2f}x kear's whole ingest, {verdict}. "
    )


def phases_sentence(run: dict, fastest: dict) -> str:
    """Where one more ingest's wall time went, step by step, against inflating alone."""
    phases = run["phases"]
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
    after = sum(seconds for name, seconds in phases.items() if name != "reading")
    how = "one thread inflating while another scans, each helping the other when it is ahead"
    margin = (INGEST_TARGET - 1) * fastest["best_seconds"]  # what the target leaves beyond inflating
    return (
        f"Where an ingest's time goes (one more run, {run['total_seconds']:.1f} s): {steps}. Reading ({how}) "
        f"takes {phases['reading'] / fastest['best_seconds']:.2f}x inflating "
        f"alone; the target leaves {margin:.1f} s beyond inflating for everything else, and the steps after "
        f"reading alone take {after:.1f} s ({after / margin:.1f}x that). "
    )


def scaling_section(scaling: dict) -> list[str]:
    sizes = scaling["sizes"]
    rows = []
    for size in sizes:
        kear, alone = size["kear"], size["inflate"]
        rows.append(
            f"| {size['fraction']} | {size['rows']:,} | {size['gz_mb']:,.0f} | {size['edges']:,} | "
            f"{alone['best_seconds']:.1f} | {alone['peak_tree_rss_mb']:.0f} | {kear['best_seconds']:.1f} | "
            f"{kear['peak_tree_rss_mb']:.0f} | {kear['best_seconds'] / alone['best_seconds']:.2f} |"
        )
    full = sizes[-1]
    names = [size["fraction"] for size in sizes]
    rows_m = [size["rows"] / 1e6 for size in sizes]
    edges_m = [size["edges"] / 1e6 for size in sizes]
    seconds = [size["kear"]["best_seconds"] for size in sizes]
    memory = [size["kear"]["peak_tree_rss_mb"] for size in sizes]
    return [
        "## Ingest scaling",
        "",
        "Measured by:",
        "",
        f"    {scaling['command']}",
        "",
        f"on {scaling['machine']}, {scaling['date']}: each size its own synthetic dump (same share of English rows), "
        f"best of {scaling['repeats']} rounds of inflating alone (kear's ISA-L reader) and ingesting.",
        "",
        "| size | rows | gzip (MB) | edges | inflate alone (s) | its peak RSS (MB) | `kear index conceptnet` (s) "
        "| its peak RSS (MB) | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Time: "
        + growth(names, rows_m, seconds, "s per million rows")
        + " Memory: "
        + growth(names, edges_m, memory, "MB per million edges")
        + " The inflated dump is never held (it streams through blocks of a few MiB): memory follows the English edges "
        f"kept, {full['kear']['peak_tree_rss_mb']:.0f} MB at full size for {full['edges']:,} edges.",
        "",
        "More data than one machine holds: only English-English rows reach the index (one row in ten in "
        "ConceptNet 5.7), and only the index must fit. Filter each shard of the dump where it lies, in parallel, "
        "with any streaming tool (rows whose third and fourth columns both start with `/c/en/`; for example "
        "`zcat shard.gz | grep -P '^[^\\t]*\\t[^\\t]*\\t/c/en/[^\\t]*\\t/c/en/'`), concatenate the filtered "
        "shards (ordered as in the dump, so that ties between equal edges resolve alike) and run "
        "`kear index conceptnet` once on the result: its time then follows the filtered rows, and its memory the "
        "edges, as in this table.",
        "",
    ]


def growth(names: list[str], sizes: list[float], costs: list[float], unit: str) -> str:
    """Sentences on how ``costs`` grow with ``sizes`` (named ``names``): the least-squares line through every size
    (its slope, and what is left at size zero), and how far each size lies from it. Linear when every size lies
    within a tenth of the line; otherwise the sizes that lie further are named. (Neighbouring slopes would judge
    each step by two timings alone, so one noisy round at one size could call a straight line bent.)"""
    slope, fixed = np.polyfit(sizes, costs, 1)
    per = f"{slope:.2f}" if slope < 10 else f"{slope:.0f}"
    off = [abs(cost - (fixed + slope * size)) / cost for size, cost in zip(sizes, costs)]
    lie = ", ".join(f"{o:.0%}" for o in off)
    far = [name for name, o in zip(names, off) if o > LINEAR_WITHIN]
    if far:
        return (
            f"not linear: the best line through the {len(sizes)} sizes ({per} {unit}) misses {', '.join(far)} by "
            f"more than {LINEAR_WITHIN:.0%} (the sizes lie {lie} from it)."
        )
    return (
        f"a line through the {len(sizes)} sizes costs {per} {unit}, on top of {fixed:.1f} {unit.split()[0]} that "
        f"does not grow with size; the sizes lie {lie} from it: linear growth."
    )


def report_markdown(results: dict) -> str:
    lines = ["# Retrieval benchmark", ""]
    if "ingest" in results:
        data = results["data"]
        ours = results["ingest"]
        lines += [
            f"Measured {results['date']} on {results['machine']}, by:",
            "",
            f"    {results['command']}",
            "",
            f"Synthetic data in the real layouts: a ConceptNet dump of {data['rows']:,} rows "
            f"({data['gz_mb']:,.0f} MB gzip, {ours['index']['english_rows']:,} English-English rows, "
            f"{ours['index']['edges']:,} distinct English edges after merging duplicates), {data['questions']:,} "
            f"questions x 5 choices ({data['train']:,} of them the BM25 training corpus), and a kaikki-layout "
            f"dictionary of {data['dictionary_entries']:,} entries. Times vary from run to run on a machine others "
            "may share (the load above is its one-minute load average at the start), which is why each ingest "
            "figure is the best of several rounds, with the median beside it.",
            "",
            *kear_section(results),
            *ingest_section(results),
        ]
        ann, bm = results["annotation"], results["bm25"]
        found = ann["found"]
        lines += [
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
    if "scaling" in results:
        lines += scaling_section(results["scaling"])
    return "\n".join(lines)


def save(report: Path, results: dict) -> None:
    report.parent.mkdir(parents=True, exist_ok=True)
    from _common import kept_section

    # the scaling section scripts/bench_scale.py writes into this report stays as it is
    markdown = report_markdown(results) + kept_section(report, "bench_scale")
    report.write_text(markdown, encoding="utf-8")
    report.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(markdown)


def previous(report: Path) -> dict:
    """The figures of an earlier run written to the same report, if any (each run replaces only its part)."""
    try:
        return json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def dump_for(work: Path, rows: int, share: float, seed: int) -> Path:
    """A synthetic dump of ``rows`` rows (generated once, reused after)."""
    folder = work / f"dump-rows{rows}-en{share}-seed{seed}"
    dump = folder / "assertions.csv.gz"
    if not (folder / "dump.done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"generating a dump of {rows:,} rows in {folder} ...", flush=True)
        generate_dump(dump, rows, int(rows * share), seed)
        (folder / "dump.done").write_text("ok")
    return dump


def scaling(args: argparse.Namespace, command: str) -> dict:
    """The ingest and inflating alone at 1/8, 1/4, 1/2 and all of ``--rows``."""
    ways = {name: way for name, way in decompressors().items() if name.startswith("ISA-L, kear's reader")}
    sizes = []
    for fraction, share in (("1/8", 8), ("1/4", 4), ("1/2", 2), ("1", 1)):
        rows = args.rows // share
        dump = dump_for(args.workdir, rows, args.english, args.seed)
        print(f"{fraction} ({rows:,} rows):", flush=True)
        figures = ingest_against_inflating(dump, args.workdir / "scaling-index", args.repeats, ways, floors=False)
        table = figures["decompressors"]
        sizes.append(
            {
                "fraction": fraction,
                "rows": rows,
                "gz_mb": dump.stat().st_size / 2**20,
                "edges": figures["index"]["edges"],
                "inflate": table[next(iter(ways))],
                "kear": table["kear"],
            }
        )
    shutil.rmtree(args.workdir / "scaling-index", ignore_errors=True)
    return {
        "command": command,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "repeats": args.repeats,
        "sizes": sizes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=34_000_000, help="rows in the synthetic dump")
    parser.add_argument("--english", type=float, default=0.106, help="share of English-English rows")
    parser.add_argument("--questions", type=int, default=12_102, help="questions (x5 choices)")
    parser.add_argument("--train", type=int, default=9_741, help="of which training questions (the BM25 corpus)")
    parser.add_argument("--dictionary", type=int, default=500_000, help="dictionary entries")
    parser.add_argument("--rank-bm25-records", type=int, default=600, help="records ranked by rank-bm25 (slow)")
    parser.add_argument(
        "--kear",
        type=Path,
        help="a fetched snapshot of https://github.com/microsoft/KEAR (its git directory, or a checkout): its "
        "preprocessing scripts are copied from there at run time and timed; without it they are not run",
    )
    parser.add_argument("--repeats", type=int, default=3, help="rounds of inflating alone and ingesting")
    parser.add_argument("--scaling", action="store_true", help="measure the ingest at 1/8, 1/4, 1/2 and 1 of --rows")
    workdir = Path(tempfile.gettempdir()) / "kear-bench"
    parser.add_argument("--workdir", type=Path, default=workdir, help="where data and indexes go")
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks/retrieval.md"), help="Markdown out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        STAGES[args.stage](*args.paths)
        return
    if args.kear is not None and not args.kear.exists():
        raise SystemExit(f"bench: --kear {args.kear}: no such folder (fetch github:microsoft/KEAR and give its path)")
    from _common import command_line

    command = command_line()
    results = previous(args.report)
    if args.scaling:
        results["scaling"] = scaling(args, command)
        save(args.report, results)
        return
    if args.kear is None:
        print("bench: no --kear: KEAR's own preprocessing is not run (fetch github:microsoft/KEAR, give its path)")

    work = args.workdir / f"rows{args.rows}-q{args.questions}-seed{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    questions, train, dictionary = (work / n for n in ("questions.jsonl", "train.jsonl", "kaikki.jsonl"))
    dump = dump_for(args.workdir, args.rows, args.english, args.seed)
    if not (work / "data.done").exists():
        print(f"generating questions and a dictionary in {work} ...", flush=True)
        graph = english_graph(int(args.rows * args.english), args.seed)
        records = generate_questions(graph, args.questions, args.seed)
        for path, part in ((questions, records), (train, records[: args.train])):
            path.write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
        generate_dictionary(dictionary, graph["names"], args.dictionary, args.seed)
        (work / "data.done").write_text("ok")

    kear = None
    if args.kear is not None:
        print("KEAR's preprocessing, as KEAR runs it ...", flush=True)
        kear = run_kear(args.kear, work, dump)
    print("kear index conceptnet against inflating alone ...", flush=True)
    ingest = ingest_against_inflating(dump, work / "indexes" / "conceptnet", args.repeats)

    from retrieval import ingest_wiktionary

    print("dictionary index and annotation ...", flush=True)
    started = time.perf_counter()
    ingest_wiktionary(dictionary, work / "indexes" / "wiktionary", progress=False)
    dictionary_seconds = time.perf_counter() - started
    indexes = {"conceptnet": work / "indexes" / "conceptnet", "dictionary": work / "indexes" / "wiktionary"}
    annotation = bench_annotation(work, indexes, train, questions)
    print("BM25 backends ...", flush=True)
    bm25 = bench_bm25(train, questions, args.rank_bm25_records)
    results.update(
        {
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "command": command,
            "data": {
                "rows": args.rows,
                "gz_mb": dump.stat().st_size / 2**20,
                "questions": args.questions,
                "train": args.train,
                "dictionary_entries": args.dictionary,
            },
            "kear": kear,
            "ingest": ingest,
            "ours": {**ingest["index"], "seconds": ingest["decompressors"]["kear"]["best_seconds"]},
            "annotation": annotation,
            "bm25": bm25,
            "dictionary_seconds": dictionary_seconds,
        }
    )
    save(args.report, results)


if __name__ == "__main__":
    main()
