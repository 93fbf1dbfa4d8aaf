"""Is the Hugging Face Hub reachable? Asked once per process, in at most a few seconds, before anything loads
from it: `datasets` and `huggingface_hub` otherwise retry an unreachable Hub for many minutes ("Retrying in
8s" after "Retrying in 8s"), where a user wants one line saying it is offline.

When the Hub is not reachable the process is put in the libraries' own offline mode (HF_HUB_OFFLINE,
HF_DATASETS_OFFLINE): what is in the local cache still loads, anything else fails at once. Every Hub load of
ours calls `hub_reachable()` first.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 3.0
_TRUE = {"1", "true", "yes", "on"}


def _offline_by_environment() -> bool:
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


@lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """True when a TCP connection to the Hub (HF_ENDPOINT, default huggingface.co:443) opens in a few seconds.
    False at once when the environment says offline. The answer is kept for the life of the process."""
    if _offline_by_environment():
        return False
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        go_offline()
        return False


def go_offline() -> None:
    """Put this process's Hugging Face libraries in offline mode (also when they are already imported)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    config = sys.modules.get("datasets.config")
    if config is not None:
        config.HF_HUB_OFFLINE = True
        if hasattr(config, "HF_DATASETS_OFFLINE"):
            config.HF_DATASETS_OFFLINE = True


def offline_hint() -> str:
    """What to add to a Hub load's error message: why it failed when the Hub is unreachable."""
    return "" if hub_reachable() else " (the Hugging Face Hub is unreachable and it is not in the local cache)"
