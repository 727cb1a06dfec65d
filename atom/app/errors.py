"""Errors in the page: a bad input or a failure becomes a ``gr.Error`` message, never a stack trace."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import gradio as gr

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def user_errors(what: str) -> Iterator[None]:
    """Bad input (``ValueError``) -> its message in the page; anything else -> a short message in the page
    and the traceback in the server log."""
    try:
        yield
    except gr.Error:
        raise
    except ValueError as err:
        raise gr.Error(str(err)) from None
    except Exception as err:
        logger.exception("%s failed", what)
        raise gr.Error(f"{what} failed: {type(err).__name__}: {err} (details in the server log)") from None
