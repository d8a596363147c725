"""NegCLIP's speed, memory and training-cost benchmarks against plain CLIP: `models`, `prompts` (deterministic
negation tags), `timing` (interleaved timing, peak memory) and `cli` (arguments and output) serve the `bench_*`
scripts.

Measurement rules (every script follows them):
- NegCLIP and the plain `CLIPModel` it wraps share one set of weights (`model.clip` IS the baseline) and
  run in the same process, ALTERNATELY: each round calls every function once, the order reversed on odd
  rounds (A B C, C B A, ...), so drift and background load hit both sides alike. Reported: the median
  (and min) over rounds of wall time, and on CPU of the process's CPU time too; ratio = NegCLIP median /
  CLIP median. On CPU the goals are judged on CPU time: on a shared machine wall time also counts the
  time other processes hold the cores (runs here saw one call vary 5.6-11 s). Runs are single-threaded
  by default (`--threads`) so CPU time is the work done, not spin-waiting.
- All inputs of a benchmark are padded to one fixed width (the longest prompt of the pool), so CLIP's
  cost does not depend on which prompts a batch holds and one CLIP baseline serves every negated fraction.
- No trained head exists offline, so `ScriptedNegationTags` makes the head's predictions deterministic:
  the head's layers and classifier still run (their cost is measured); a forward hook on the
  classifier then returns one-hot logits of tags given by a word rule (`rule_tags`).
- The models carry the cue gate a trained checkpoint carries (`negation_cue_words`; `--no-cue-gate` turns it
  off, so the head reads every prompt): affirmative prompts skip the head.
- Peak memory: bytes the torch allocator holds above its level at call start, at its highest during one
  call, outputs included, weights and inputs excluded. On CUDA `torch.cuda.max_memory_allocated`. On CPU
  `tracemalloc` does not see torch's allocations and `ru_maxrss` only ever grows over the process, so the
  CPU figure sums torch's own allocation events from `torch.profiler` (`profile_memory=True`); a
  transient peak inside one operator is not seen. Measured on the first warmup call (not a timed call).
"""
