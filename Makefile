# Set-up and the two jobs on a fresh machine: each target installs first (pip skips what is already there).
# torch is pinned to its CPU wheel: an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python

.PHONY: install quickstart test

install:
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet --no-deps open_clip_torch==3.3.0  # CLIP's BPE vocabulary file only
	$(PYTHON) -m pip install --quiet -e ".[test,demo]"

quickstart: install
	accelerate launch -m training.quickstart

test: install
	$(PYTHON) -m pytest -q
