"""Text data: vocabularies, generated and composed negation prompts, readers of the real negation sets, token labels, the regex baseline and the splitter's metrics."""
