#!/usr/bin/env python
"""Retrieve knowledge for a file and predict it on a Ray cluster that this example starts itself, on this machine.

    pip install 'kear[cluster]'
    python examples/cluster.py --output-dir cluster-run                      # the bundled sample, 2 workers
    python examples/cluster.py --config "$(kear recipe path retrieval/csqa)" --input data/csqa/dev_rand_split.jsonl \\
        --model runs/seed1/best --workers 4 --output-dir cluster-run

It starts a local Ray cluster (``ray.init``), then runs kear's two file commands on it as ``kear retrieve
--cluster`` and ``kear predict --cluster`` do: a pool of workers, each opening the knowledge sources (and loading
the model) once, the lines written in input order, the same as one process writes them. On a real cluster, skip
``ray.init`` here and give ``address="auto"`` (or ``ray://HOST:10001``) instead.

Without ``--config`` the knowledge comes from indexes built from the bundled sample's dumps (in the output folder),
and without ``--input`` the questions are the bundled sample's; without ``--model`` only retrieval runs.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import ray

from kear import predict_file
from retrieval import ClusterConfig, RetrievalConfig, load_settings, retrieve_file
from retrieval.data import index_dumps, sample_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=sample_file("questions.jsonl"), help="records to retrieve for")
    parser.add_argument("--config", type=Path, help="retrieval settings (default: indexes of the bundled sample)")
    parser.add_argument("--model", type=Path, help="a model folder to predict the records with, after retrieval")
    parser.add_argument("--workers", type=int, default=2, help="workers of the cluster (one CPU core each)")
    parser.add_argument("--output-dir", type=Path, required=True, help="where the files go")
    args = parser.parse_args()
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    if args.config is None:
        settings = index_dumps(
            args.output_dir / "indexes",
            sample_file("conceptnet-assertions.csv"),
            sample_file("kaikki-english.jsonl"),
            [sample_file("train.jsonl")],
            use_cache=False,
        )
    else:
        settings = load_settings(RetrievalConfig, args.config)

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)  # the cluster, on this machine
    cluster = ClusterConfig(address="auto", workers=args.workers)  # kear joins the session started above
    knowledge = args.output_dir / "knowledge.jsonl"
    report = retrieve_file(args.input, knowledge, settings, progress=False, cluster=cluster)
    print(f"{knowledge}: {report.records} records with knowledge, retrieved by {args.workers} workers")
    if args.model is not None:
        predictions = args.output_dir / "predictions.jsonl"
        done = predict_file(args.model, knowledge, predictions, progress=False, overwrite=True, cluster=cluster)
        accuracy = "n/a" if done.accuracy is None else f"{done.accuracy:.3f}"
        print(f"{predictions}: {done.written} predictions by {args.workers} workers; accuracy {accuracy}")
    ray.shutdown()


if __name__ == "__main__":
    main()
