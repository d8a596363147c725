"""The README's usage snippet runs as written (in a temporary folder)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_main_job_and_test_commands():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1)
    assert first_block.split()[:2] == ["make", "quickstart"] and "make test" in first_block
    makefile = (README.parent / "Makefile").read_text()
    quickstart = re.search(r"^quickstart: install\n\t(.*)$", makefile, re.M).group(1)
    test = re.search(r"^test: install\n\t(.*)$", makefile, re.M).group(1)
    assert quickstart == "accelerate launch -m training.quickstart" and test.endswith("-m pytest -q")
    assert "torch==2.13.0" in makefile  # the CPU wheel, never an unpinned (CUDA) torch


def test_readme_usage_snippet_runs(tmp_path, monkeypatch):
    snippet = re.search(r"## Usage\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert (tmp_path / "negclip-demo" / "model.safetensors").is_file()
    assert namespace["reloaded"].split_prompts(["a cat"], namespace["processor"].tokenizer)[0].positive == "a cat"
