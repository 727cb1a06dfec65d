"""Tiny offline models for tests and smoke runs."""
