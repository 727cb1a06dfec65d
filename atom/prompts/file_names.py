"""File names for prompts' outputs (meshes, previews)."""

from __future__ import annotations

import re


def prompt_slug(prompt: str, index: int) -> str:
    """A file-system-safe name for a prompt, prefixed by its index so that names never collide:
    ``prompt_slug("a red cube!", 3) == "003_a_red_cube"``."""
    return f"{index:03d}_" + (re.sub(r"[^a-zA-Z0-9]+", "_", prompt).strip("_")[:60] or "prompt")
