"""Training: compiled phases, the kimg loop, checkpoints."""
