"""Settings of ``kear retrieve``: which sources run, and each source's own section, named as the source.

The sections are not written out here: the settings class is made from the registry of sources
(:func:`retrieval.source.sources`, see :meth:`RetrievalConfig.settings_class`), so a new source brings its section
with it. ``RetrievalConfig(...)`` builds an instance of that class (one per set of registered sources), which is a
subclass of :class:`RetrievalConfig` and a plain dataclass to everything that reads it (``asdict``, OmegaConf, YAML).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, make_dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .settings import check_bool, check_int, check_text, check_texts
from .source import default_sources, sources


@dataclass
class RetrievalConfig:
    """Settings for adding knowledge to records.

    Args:
        sources: which sources to run, by name (default: KEAR's three, ``conceptnet``, ``dictionary`` and
            ``examples``); each source has a settings section of its name (``conceptnet.index``...), whose
            arguments its settings class documents.
        bundle: a knowledge bundle (:mod:`retrieval.bundle`, written by ``kear push``) that the sections' relative
            index and corpus paths are read in: a folder, or ``hf://datasets/OWNER/NAME@REVISION`` on the Hub.
        cache_dir: where results are cached (default ``$KEAR_CACHE`` or ``~/.cache/kear``).
        use_cache: reuse cached results, so a rerun repeats no work.
        batch_size: records annotated (and cached) together.

    Every section checks its own values when built (see each); here: ``sources`` among the registered ones,
    each once; ``bundle`` and ``cache_dir`` non-empty or null; ``batch_size`` an integer >= 1.
    """

    sources: list[str] = field(default_factory=default_sources)
    bundle: str | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    batch_size: int = 256

    def __new__(cls, *args: Any, **kwargs: Any) -> RetrievalConfig:
        # the class with a section for each registered source stands in for this one
        return object.__new__(cls.settings_class())

    @classmethod
    def settings_class(cls) -> type[RetrievalConfig]:
        """The dataclass that settings are loaded into: this one plus a section per registered source."""
        if cls is not RetrievalConfig:
            return cls
        return _settings_class(tuple((name, source.config_class) for name, source in sources().items()))

    def __post_init__(self) -> None:
        check_texts(self.sources, "sources", choices=list(sources()), what="source")
        check_text(self.bundle, "bundle", optional=True)
        check_text(self.cache_dir, "cache_dir", optional=True)
        check_bool(self.use_cache, "use_cache")
        check_int(self.batch_size, "batch_size", 1)

    def section(self, name: str) -> Any:
        """The settings of source ``name``."""
        return getattr(self, name)

    def cache_path(self) -> Path:
        folder = self.cache_dir or os.environ.get("KEAR_CACHE") or "~/.cache/kear"
        return Path(folder).expanduser() / "retrieval.sqlite"

    def located(self) -> RetrievalConfig:
        """These settings with the bundle's place put into each relative path it holds (a Hub bundle is fetched
        first), and ``bundle`` unset; the settings themselves when they name no bundle.

        Raises:
            ConfigError: a bundle that is not there or cannot be fetched, in one line.
        """
        if self.bundle is None:
            return self
        from .bundle import bundle_paths, open_bundle
        from .settings import load_settings

        values = asdict(self)
        for name, key, value in bundle_paths(values, open_bundle(self.bundle)):
            values[name][key] = value
        values["bundle"] = None
        return load_settings(RetrievalConfig, values=values)

    def resolved(self) -> RetrievalConfig:
        """These settings with each path they read (indexes, corpora, the cache folder) made absolute from where this
        process runs, for processes that run elsewhere (a cluster's workers); what is not a local path (a Hub id)
        stays as it is."""
        from .settings import load_settings

        def absolute(path: str) -> str:
            return str(Path(path).expanduser().resolve()) if Path(path).expanduser().exists() else path

        values = asdict(self.located())
        for name, cls in sources().items():
            for key in cls.reads:
                value = values[name][key]
                values[name][key] = (
                    [absolute(v) for v in value] if isinstance(value, list) else value and absolute(value)
                )
        if self.cache_dir:
            values["cache_dir"] = str(Path(self.cache_dir).expanduser().resolve())
        return load_settings(RetrievalConfig, values=values)

    def read_paths(self, names: Sequence[str] | None = None) -> list[str]:
        """The files and folders retrieval with these settings reads (indexes, corpora, the cache): what an output
        must not overwrite. ``names``: only those sources' (default ``self.sources``)."""
        chosen = self.sources if names is None else names
        located = self.located()
        paths = [
            path for name, cls in sources().items() if name in chosen for path in cls.read_paths(located.section(name))
        ]
        return [*paths, str(self.cache_path())] if self.use_cache else paths


@cache
def _settings_class(sections: tuple[tuple[str, type], ...]) -> type[RetrievalConfig]:
    fields = [(name, config, field(default_factory=config)) for name, config in sections]
    made = make_dataclass("RetrievalConfig", fields, bases=(RetrievalConfig,))
    made.__module__, made.__doc__ = __name__, RetrievalConfig.__doc__
    return made
