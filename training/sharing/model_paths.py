"""Where a `--model` argument points: a checkpoint folder here, or a Hub repo id.

transformers reads a name that is not a folder as a repo id: a mistyped folder then ends, after network retries,
in "Repo id must be in the form ..." many frames down. The scripts check the name first and say what is wrong.
"""

from __future__ import annotations

import os
import sys

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id


def check_model_path(name: str) -> str:
    """`name` unchanged if it is a folder here or could be a Hub repo id; a clear error otherwise."""
    if os.path.isdir(name):
        return name
    if os.path.exists(name):
        raise NotADirectoryError(f"'{name}' is a file; a model is a checkpoint folder or a Hub repo id")
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FileNotFoundError(f"no folder '{name}' (from {os.getcwd()}), and it is not a Hub repo id either") from None
    print(f"No folder '{name}' here: loading it as a Hub repo id.", file=sys.stderr)
    return name
