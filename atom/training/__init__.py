"""The two-stage amortized training step, losses, checkpoints, logging and the loop."""
