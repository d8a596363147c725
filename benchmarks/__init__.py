"""Inference benchmarks: NegCLIP against the plain `CLIPModel` it wraps (see each script's docstring)."""
