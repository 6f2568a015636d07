"""Knowledge bundles: the indexes and corpora that retrieval settings read, in one folder that travels.

A model retrieves knowledge with the settings it was trained with; those settings name indexes and corpora on the
trainer's machine. A bundle copies what the active sources read into one folder, with paths relative to it, a
manifest (``kear-knowledge.json``: each source's settings, the identity of its data, the files' sizes) and a card
(``README.md``: what is inside, under which licence). Setting ``bundle`` in the retrieval settings makes every
relative index and corpus path read inside it, so the same settings work wherever the bundle lands::

    kear retrieve --input raw.jsonl --output out.jsonl bundle=PATH/TO/knowledge
    kear retrieve --input raw.jsonl --output out.jsonl bundle=hf://datasets/OWNER/NAME@REVISION

``kear push`` writes one into a model's folder (``knowledge/``) or publishes it as a Hub dataset repository; a model
finds it relative to its own folder or by repository id and revision. Files are hard-linked into a bundle where the
file system allows (indexes are replaced whole when rebuilt, never changed in place), so a local bundle costs no
space; the ``meta.json`` of each index is copied with the local paths it records taken out.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path, PureWindowsPath
from typing import Any

from .config import RetrievalConfig
from .errors import ConfigError, KearError, first_line
from .hub import OFFLINE_HINT, hub_unreachable

logger = logging.getLogger(__name__)

MANIFEST = "kear-knowledge.json"
FORMAT = 1
HUB_PREFIX = "hf://datasets/"

# The terms of the data each kind of index is built from (the ``kind`` its meta.json records): a bundle
# redistributes that data, so its card must carry them.
LICENCES = {
    "conceptnet": ("cc-by-sa-4.0", "ConceptNet 5 (https://conceptnet.io): CC BY-SA 4.0; credit the ConceptNet project"),
    "wiktionary": (
        "cc-by-sa-4.0",
        "Wiktionary (https://en.wiktionary.org), through kaikki.org's extraction: CC BY-SA 4.0 (and GFDL); credit "
        "Wiktionary's contributors",
    ),
    "wordnet": ("other", "Princeton WordNet 3.0: the WordNet 3.0 license (https://wordnet.princeton.edu/license)"),
    "examples": ("other", "the training questions it indexes: the licence of that data set (CommonsenseQA: MIT)"),
}

_ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:[\\/])")  # POSIX, home-relative and Windows absolute paths


def without_local_paths(value: Any) -> Any:
    """``value`` with every absolute path (``/...``, ``~/...``, ``C:\\...``) replaced by its last component, at any
    depth (what is published names no folder of the machine it was made on)."""
    if isinstance(value, dict):
        return {key: without_local_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_local_paths(item) for item in value]
    if isinstance(value, str) and _ABSOLUTE.match(value) and "\n" not in value:
        return PureWindowsPath(value).name if ":" in value[:2] else (Path(value).name or value)
    return value


# ------------------------------------------------------------------------------------------------ writing


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, target)


def _place(source: Path, target: Path) -> int:
    """Put ``source`` (a file or a folder) at ``target``; return its size in bytes."""
    if source.is_dir():
        shutil.copytree(source, target, copy_function=_link_or_copy)
        meta = target / "meta.json"
        if meta.is_file():  # an index's own record of where it was built from: no local path travels
            meta.unlink()  # a link to the original: replaced by a copy, never written through
            values = json.loads((source / "meta.json").read_text(encoding="utf-8"))
            meta.write_text(json.dumps(without_local_paths(values), indent=2) + "\n", encoding="utf-8")
        return sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    target.parent.mkdir(parents=True, exist_ok=True)
    _link_or_copy(str(source), str(target))
    return target.stat().st_size


def _kinds(paths: list[Path], source: str) -> list[str]:
    """The kinds of data the paths hold, as their index meta records them (a corpus file: ``examples``)."""
    kinds = []
    for path in paths:
        meta = path / "meta.json"
        kind = json.loads(meta.read_text(encoding="utf-8")).get("kind") if meta.is_file() else None
        kinds.append(kind or ("examples" if source == "examples" else source))
    return kinds


def write_bundle(config: RetrievalConfig, folder: str | Path, *, name: str = "kear knowledge") -> dict[str, Any]:
    """Copy what the active sources of ``config`` read into ``folder`` (a new folder), with a manifest and a card.

    Args:
        config: the retrieval settings whose knowledge is bundled (their sources are opened first, so a setting that
            names no index is said before anything is copied).
        folder: the bundle's folder; it must not exist yet.
        name: what the card calls the bundle (a repository id, when it has one).

    Returns the settings as values (``dataclasses.asdict``) with every path the bundle holds relative to it and the
    cache at its default; set ``bundle`` in them to where the bundle will be found. A source whose settings name no
    index or corpus at all is left out, with a warning.

    Raises:
        ConfigError: settings whose sources cannot open what they name, in one line.
    """
    from .pipeline import build_sources
    from .source import sources

    folder, config = Path(folder), config.located()
    values = asdict(config)
    values["cache_dir"] = None
    manifest: dict[str, Any] = {"format": FORMAT, "sources": {}}
    kinds: list[str] = []
    # a source whose settings name nothing was never retrieved from (records came with their knowledge): nothing
    # to bundle, and its settings stay as they are
    named = [name for name in config.sources if any(getattr(config.section(name), k) for k in sources()[name].reads)]
    for name in sorted(set(config.sources) - set(named)):
        logger.warning("the retrieval settings name no data for %s: the bundle holds none for it", name)
    for source in build_sources(config, named):
        section, entry = values[source.name], {"files": {}, "bytes": 0}
        for key in source.reads:
            value = section[key]
            if key not in source.required():  # read only when the required one is absent (a corpus beside an index)
                section[key] = [] if isinstance(value, list) else None
                continue
            paths = [Path(v) for v in (value if isinstance(value, list) else [value])]
            kept = [
                f"{source.name}/{position}-{path.name}" if isinstance(value, list) else f"{source.name}/{path.name}"
                for position, path in enumerate(paths)
            ]
            for path, relative in zip(paths, kept):
                entry["bytes"] += _place(path, folder / relative)
            section[key] = kept if isinstance(value, list) else kept[0]
            entry["files"][key] = section[key]
            kinds += _kinds(paths, source.name)
        entry["settings"], entry["identity"] = section, source.identity
        manifest["sources"][source.name] = entry
    manifest["licences"] = {kind: LICENCES[kind][1] for kind in dict.fromkeys(kinds) if kind in LICENCES}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(bundle_card(manifest, name), encoding="utf-8")
    total = sum(entry["bytes"] for entry in manifest["sources"].values())
    logger.info("knowledge bundle %s: %s in %s", folder, _size(total), ", ".join(manifest["sources"]) or "no source")
    return values


def _size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return ""


def bundle_card(manifest: dict[str, Any], name: str) -> str:
    """The bundle's ``README.md``: Hub metadata (licence, tags), what each source holds, and the data's terms."""
    kinds = [kind for kind in manifest["licences"]]
    spdx = {LICENCES[kind][0] for kind in kinds}
    licence = spdx.pop() if len(spdx) == 1 else "other"
    named = ["license_name: several", "license_link: README.md"] if licence == "other" else []  # the Hub asks
    lines = ["---", f"license: {licence}", *named, "tags:", "- kear", "- knowledge", "---", "", f"# {name}", ""]
    lines += [
        "The knowledge a kear model retrieves from: indexes and corpora, with the settings that read them. Set",
        "`bundle` in the retrieval settings to this folder (or `hf://datasets/OWNER/NAME@REVISION`) and every",
        "relative path below is read inside it.",
        "",
        "| source | files | size |",
        "|---|---|---:|",
    ]
    for source, entry in manifest["sources"].items():
        files = ", ".join(f"`{p}`" for v in entry["files"].values() for p in (v if isinstance(v, list) else [v]))
        lines.append(f"| {source} | {files} | {_size(entry['bytes'])} |")
    lines += ["", "## Licences", "", "This bundle redistributes data under its own terms:", ""]
    lines += [f"- {text}" for text in manifest["licences"].values()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ reading


def split_hub_location(location: str) -> tuple[str, str | None]:
    """``hf://datasets/OWNER/NAME@REVISION`` as ``(OWNER/NAME, REVISION)`` (the revision ``None`` when absent)."""
    repo, _, revision = location.removeprefix(HUB_PREFIX).partition("@")
    return repo, revision or None


def open_bundle(location: str | Path) -> Path:
    """The local folder of a bundle: ``location`` itself, or a Hub dataset's download (``hf://datasets/...``).

    Raises:
        ConfigError: a folder that is not a bundle, or a Hub bundle that cannot be fetched, in one line.
    """
    location = str(location)
    if location.startswith(HUB_PREFIX):
        repo, revision = split_hub_location(location)
        from huggingface_hub import snapshot_download

        try:
            if hub_unreachable():
                raise KearError(OFFLINE_HINT)
            folder = Path(snapshot_download(repo, repo_type="dataset", revision=revision))
        except Exception as error:  # offline, not found, refused: the same for whoever asked
            raise ConfigError(f"bundle {location}: cannot fetch it ({first_line(error)})") from None
    else:
        folder = Path(location).expanduser()
    if not (folder / MANIFEST).is_file():
        what = "no such folder" if not folder.exists() else f"not a knowledge bundle (no {MANIFEST})"
        raise ConfigError(f"bundle {location}: {what}")
    return folder


def bundle_paths(values: dict[str, Any], root: Path) -> Iterator[tuple[str, str, Any]]:
    """``(source, key, value)`` for every read setting of ``values`` (settings as values), with relative paths
    joined to ``root``."""
    from .source import sources

    for name, cls in sources().items():
        for key in cls.reads:
            value = values[name][key]

            def inside(path: str) -> str:
                return path if Path(path).expanduser().is_absolute() else str(root / path)

            yield name, key, [inside(v) for v in value] if isinstance(value, list) else value and inside(value)
