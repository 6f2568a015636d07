"""Settings of ``kear retrieve``: which sources run, and each source's own section."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .conceptnet.config import ConceptNetConfig
from .dictionary.config import DictionaryConfig
from .examples.config import ExamplesConfig
from .settings import check_bool, check_int, check_text, check_texts

# The knowledge sources, by name: each has its settings section of the same name below.
SOURCE_NAMES = ("kg", "dict", "train")


@dataclass
class RetrievalConfig:
    """Settings for adding knowledge to records.

    Args:
        sources: which sources to run, by name: ``kg`` (ConceptNet), ``dict`` (definitions), ``train``
            (similar training examples).
        kg: ConceptNet settings.
        dict: dictionary settings.
        train: similar-examples settings.
        cache_dir: where results are cached (default ``$KEAR_CACHE`` or ``~/.cache/kear``).
        use_cache: reuse cached results, so a rerun repeats no work.
        batch_size: records annotated (and cached) together.

    Every section checks its own values when built (see each); here: ``sources`` among :data:`SOURCE_NAMES`,
    each once; ``cache_dir`` a non-empty path or null; ``batch_size`` an integer >= 1.
    """

    sources: list[str] = field(default_factory=lambda: ["kg", "dict", "train"])
    kg: ConceptNetConfig = field(default_factory=ConceptNetConfig)
    dict: DictionaryConfig = field(default_factory=DictionaryConfig)
    train: ExamplesConfig = field(default_factory=ExamplesConfig)
    cache_dir: str | None = None
    use_cache: bool = True
    batch_size: int = 256

    def __post_init__(self) -> None:
        check_texts(self.sources, "sources", choices=SOURCE_NAMES, what="source")
        check_text(self.cache_dir, "cache_dir", optional=True)
        check_bool(self.use_cache, "use_cache")
        check_int(self.batch_size, "batch_size", 1)

    def cache_path(self) -> Path:
        folder = self.cache_dir or os.environ.get("KEAR_CACHE") or "~/.cache/kear"
        return Path(folder).expanduser() / "retrieval.sqlite"

    def read_paths(self, sources: Sequence[str] | None = None) -> list[str]:
        """The files and folders retrieval with these settings reads (indexes, corpora, the cache): what an output
        must not overwrite. ``sources``: only those sources' (default ``self.sources``)."""
        names = self.sources if sources is None else sources
        paths = [self.kg.index] if "kg" in names and self.kg.index else []
        paths += list(self.dict.indexes) if "dict" in names else []
        paths += list(self.train.corpora) if "train" in names else []
        return [*paths, str(self.cache_path())] if self.use_cache else paths
