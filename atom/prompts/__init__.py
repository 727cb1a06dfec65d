"""Prompt sets, train/test splits and view-dependent prompts."""
