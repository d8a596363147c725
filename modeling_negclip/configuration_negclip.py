"""NegCLIP configuration (placeholder: being written)."""

NEGATION_LABELS = ("affirmed", "negation_cue", "negated")
