"""Reaching the Hugging Face Hub: one quick request decides, instead of a minute of retries that end the same way.

Every path that can download (an encoder, a model, a dataset) also works from a local path; when the Hub cannot
be reached, loaders use the local cache only and say so in one line if the files are not there.
"""

from __future__ import annotations

import re
from functools import cache

HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def looks_like_hub_id(name: str) -> bool:
    """Whether ``name`` has the shape of a Hub repository id (``owner/name``)."""
    return bool(HUB_ID.match(name))


@cache
def hub_unreachable(timeout: float = 5.0) -> bool:
    """True when downloads are allowed (``HF_HUB_OFFLINE`` is off) but the Hub does not answer one request.

    Checked once per process. In offline mode the libraries already read only their caches, quickly.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    from huggingface_hub.utils import get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception:  # DNS, refused, timeout, proxy: whatever the cause, nothing can be downloaded
        return True
    return False


OFFLINE_HINT = "the Hugging Face Hub cannot be reached and the files are not in the local cache"
