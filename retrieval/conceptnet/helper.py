"""The helper process of a two-worker ConceptNet ingest: ``python -m retrieval.conceptnet.helper DUMP FOLDER``.

It reads every other block of the dump and hands what it found over as plain files in FOLDER.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .ingest import _BAD_EXIT, _BLOCK, _collect, _save_part


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval.conceptnet.helper")
    parser.add_argument("dump")
    parser.add_argument("handover", type=Path)
    parser.add_argument("--block-size", type=int, default=_BLOCK)
    parser.add_argument("--strict", action="store_true", help="stop at the first malformed row")
    args = parser.parse_args(argv)
    part = _collect(args.dump, 1, 2, args.block_size, args.strict, progress=False)
    _save_part(part, args.handover)
    return _BAD_EXIT if part.bad_count and args.strict else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
