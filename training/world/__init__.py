"""The generated shapes world: scenes, images, captions, their truth, the benchmark items, the benchmark and its report."""
