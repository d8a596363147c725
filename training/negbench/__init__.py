"""NegBench's multiple-choice questions on real photos (PASCAL VOC 2007)."""
