"""NegCLIP training, data and evaluation code (never shipped inside a checkpoint)."""
