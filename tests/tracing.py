"""What each process builds and opens: every knowledge source made and every index opened, written as a line
(``PID NAME``) to one file, so that counts can be taken across the processes of a run (``datasets.map``'s, a
cluster's). Tests call :func:`trace` with ``monkeypatch.setattr``; a cluster's processes import it at start."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

# what a run opens once per process at most: the sources, then their indexes
OPENED = ["conceptnet", "dictionary", "examples", "conceptnet index", "dictionary index", "BM25 corpus"]


def trace(path: str | Path, patch: Callable[[Any, str, Any], None] = setattr) -> None:
    """From now on, write a line to ``path`` for each source built and each index opened in this process."""
    from retrieval.conceptnet import ConceptNetIndex
    from retrieval.dictionary import DictionaryIndex
    from retrieval.examples import ExampleRetriever
    from retrieval.source import KnowledgeSource

    for cls, name in zip([KnowledgeSource, ConceptNetIndex, DictionaryIndex, ExampleRetriever], [None, *OPENED[3:]]):

        def counted(self: Any, *args: Any, _real: Any = cls.__init__, _name: str | None = name, **kwargs: Any) -> None:
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"{os.getpid()} {_name or type(self).name}\n")
            _real(self, *args, **kwargs)

        patch(cls, "__init__", counted)


def opened(path: str | Path) -> dict[int, collections.Counter]:
    """What each process built or opened so far, and how often; the file starts again empty."""
    path = Path(path)
    found: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        pid, name = line.split(" ", 1)
        found[int(pid)][name] += 1
    path.unlink(missing_ok=True)
    return dict(found)


if "KEAR_TEST_TRACE" in os.environ:  # imported at the start of a cluster's process (see tests/test_cluster.py)
    trace(os.environ["KEAR_TEST_TRACE"])
