"""Prompt sets, train/test splits and view-dependent prompts."""

from atom.prompts.prompt_set import PromptSet
from atom.prompts.views import VIEWS, ViewDependentEmbeddings, view_prompt

__all__ = ["VIEWS", "PromptSet", "ViewDependentEmbeddings", "view_prompt"]
