"""A local stand-in for the Hugging Face Hub: a folder published into a Hub cache, as a download would leave it.

With ``HF_HUB_CACHE`` pointing at the cache and ``HF_HUB_OFFLINE=1``, transformers and huggingface_hub resolve the
repository id from it exactly as they do after a real download (``refs/main`` names a commit, whose snapshot holds
the files), so a command given ``--model owner/name`` runs its Hub path without the network.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def publish(folder: Path, repo_id: str, cache: Path, repo_type: str = "model") -> str:
    """Put ``folder``'s files into ``cache`` as repository ``repo_id``'s ``main``; return the commit id used."""
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    commit = digest.hexdigest()
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return commit
