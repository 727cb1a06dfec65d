"""Frozen text encoders behind one interface, and the on-disk embedding cache."""
