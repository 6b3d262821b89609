"""What third-party libraries read from the environment, set in one place.

Only two kinds of settings live here. Opt-outs that libraries read when they are
imported (telemetry, notices, tokenizer threads): ``prepare_process`` sets them and
must run before those imports. And the network policy for the Hugging Face hub
client, which the entry point applies once, from its own explicit setting
(``Settings.allow_downloads``), with ``apply_network_policy``; the app's own code
never reads it back from the environment, it is passed ``allow_downloads``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

# Forced, not defaulted: an empty DO_NOT_TRACK in the user's shell would not opt out,
# and none of these switches off anything the app needs.
OPT_OUTS: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",  # the app batches itself; forked workers would warn
    # transformers' "Loading weights" bar on every model load; the app draws its own named steps
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

# Known notices from libraries the app uses, each silenced by its own text and origin, so any other
# warning (ours above all) still shows. (message regex, category, module regex of the warning's origin)
THIRD_PARTY_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # torch's pytree, reached through copyreg while the ONNX exporter pickles specs
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, ""),
    # the ONNX exporter naming dynamic axes that share one constraint (batch, sequence): harmless
    (r"# The axis name: .* will not be used", UserWarning, r"torch\.onnx"),
    # pandas 3 deprecation inside gradio's queue statistics
    (r"The copy keyword is deprecated|'future.no_silent_downcasting' is deprecated", Warning, r"gradio"),
    # numba (ranx's metrics) compiling on first use
    (r"", Warning, r"numba(\.|$)"),
    # NumbaTypeSafetyWarning raised from ranx's compiled sort (attributed to ranx.utils, not numba), once
    # per evaluation: "unsafe cast from uint64 to int64" of ranks, which never exceed int64
    (r"unsafe cast from uint64 to int64", Warning, r""),
)
# Loggers that report, at WARNING, things a user of this app cannot act on.
QUIET_LOGGERS: dict[str, int] = {
    # "torchvision is not installed. Skipping torchvision::nms" x4 on every ONNX export: the app
    # exports text encoders, which use none of torchvision's operators. (A leaf logger: torch resets
    # the levels of its registered "torch.onnx" logger at import, not of modules below it.)
    "torch.onnx._internal.exporter._registration": logging.ERROR,
    "numba": logging.WARNING,
    # model2vec's distillation rebuilding the tokenizer ("Adding missing added token ..."): about the
    # tokenizer's bookkeeping, nothing the user can act on; the distilled model is checked by the app
    "skeletoken": logging.ERROR,
}
_quieted = False
HUB_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def child_environment() -> dict[str, str]:
    """This process's environment with the project first on ``PYTHONPATH``: what a child started with
    ``python -m search...`` or ``-c`` needs to import this checkout (the ONNX export, the backend plan,
    the metric warm-up)."""
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def prepare_process() -> None:
    """Set the opt-outs and silence known third-party notices; cheap and idempotent, so every door
    to a third-party library may call it."""
    os.environ.update(OPT_OUTS)
    quiet_third_party()


def quiet_third_party() -> None:
    """Targeted warning filters and logger levels (once per process): see THIRD_PARTY_WARNINGS."""
    global _quieted
    if _quieted:
        return
    _quieted = True
    for message, category, module in THIRD_PARTY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


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
