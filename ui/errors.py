"""The web UI's error boundary: user errors verbatim, bugs as a short note (traceback in the log)."""

from __future__ import annotations

import html
import logging

import gradio as gr

from search.core.display import shown_text
from search.core.errors import user_message as known_message

log = logging.getLogger("ui")


def user_message(exc: BaseException) -> str:
    """What the user should read; anything unexpected is logged with its traceback and summarised."""
    text = known_message(exc)
    if text is not None:
        return text
    log.exception("unexpected error in a UI handler", exc_info=exc)
    return f"Something went wrong ({type(exc).__name__}); the details are in the server log."


def warn(text: str) -> None:
    """A warning pop-up. Gradio renders its message as HTML: a message quoting a file name, an id or a
    line of a query set must show that text, never links or remote images made from it."""
    gr.Warning(html.escape(shown_text(text)))
