"""The helper process of a two-worker ConceptNet ingest: ``python -m retrieval.conceptnet.helper DUMP FOLDER``.

It reads every other block of the dump and hands what it found over as plain files in FOLDER. It dies with its
parent: a parent killed with SIGKILL, which runs no clean-up, leaves no helper behind.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

from ..errors import KearError
from .ingest import _BAD_EXIT, _BLOCK, _collect, _save_part

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent ends (Linux), and end now if it already has."""
    # not Linux: no prctl, but the parent's `finally` still stops the helper on any end it can catch
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl: it would never be signalled
        os._exit(1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval.conceptnet.helper")
    parser.add_argument("dump")
    parser.add_argument("handover", type=Path)
    parser.add_argument("--block-size", type=int, default=_BLOCK)
    parser.add_argument("--strict", action="store_true", help="stop at the first malformed row")
    parser.add_argument("--parent", type=int, help="the process to end with")
    args = parser.parse_args(argv)
    if args.parent:
        die_with(args.parent)
    try:
        part = _collect(args.dump, 1, 2, args.block_size, args.strict, progress=False)
    except KearError:  # a dump that cannot be read: the parent reads the same bytes and says so, once
        return 2
    _save_part(part, args.handover)
    return _BAD_EXIT if part.bad_count and args.strict else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
