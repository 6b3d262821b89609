"""What third-party libraries read from the environment, set in one place.

Only two kinds of settings live here. Opt-outs that libraries read when they are
imported (telemetry, notices, tokenizer threads): ``prepare_process`` sets them and
must run before those imports. And the network policy for the Hugging Face hub
client, which the entry point applies once, from its own explicit setting
(``Settings.allow_downloads``), with ``apply_network_policy``; the app's own code
never reads it back from the environment, it is passed ``allow_downloads``.
"""

from __future__ import annotations

import os
import sys

# Forced, not defaulted: an empty DO_NOT_TRACK in the user's shell would not opt out,
# and none of these switches off anything the app needs.
OPT_OUTS: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",  # the app batches itself; forked workers would warn
}
HUB_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def prepare_process() -> None:
    """Set the opt-outs; cheap and idempotent, so every door to a third-party library may call it."""
    os.environ.update(OPT_OUTS)


def apply_network_policy(allow_downloads: bool) -> None:
    """Offline unless downloads are allowed: for this process's hub client and for child processes.

    ``huggingface_hub`` reads its switch once at import; when it is already imported
    the switch itself is set as well, so the policy holds whatever was imported first.
    """
    value = "0" if allow_downloads else "1"
    for name in HUB_OFFLINE_VARIABLES:
        os.environ[name] = value
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = not allow_downloads  # type: ignore[attr-defined]
