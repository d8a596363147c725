"""Build OpenAI CLIP's BPE tokenizer offline from the vocabulary file that open_clip_torch ships.

The Hub copy of `openai/clip-vit-base-patch32`'s tokenizer cannot be downloaded here, but the
`open_clip_torch` wheel carries `open_clip/bpe_simple_vocab_16e6.txt.gz`, the very file OpenAI's
`simple_tokenizer.py` reads. Rebuilding `vocab.json` + `merges.txt` from it the way that file does
gives the identical 49,408-token vocabulary ("a photo of a cat" -> 49406 320 1125 539 320 2368 49407).

Install the wheel without its heavy dependencies: `pip install --no-deps open_clip_torch==3.3.0`.
"""

from __future__ import annotations

import copy
import gzip
import importlib.util
import os
import zipfile
from pathlib import Path

from tokenizers import Regex, decoders, normalizers
from transformers import CLIPTokenizer, PreTrainedTokenizerBase
from transformers.tokenization_utils_tokenizers import TokenizersBackend

from modeling_negclip.negation_cues import TYPOGRAPHIC_DOUBLE_QUOTES, TYPOGRAPHIC_SINGLE_QUOTES

BPE_FILE_NAME = "bpe_simple_vocab_16e6.txt.gz"
CLIP_MAX_LENGTH = 77
_NUM_MERGES = 49152 - 256 - 2


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode map (from OpenAI CLIP's simple_tokenizer.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def find_bpe_file(bpe_path: str | os.PathLike | None = None) -> Path:
    """Locate the gzipped BPE file: an explicit path, or inside an installed open_clip (not imported)."""
    if bpe_path is not None:
        path = Path(bpe_path)
        if not path.is_file():
            raise FileNotFoundError(f"CLIP BPE vocabulary file not found: '{path}'")
        return path
    spec = importlib.util.find_spec("open_clip")  # finds the package without importing torchvision
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / BPE_FILE_NAME
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        f"Cannot find CLIP's '{BPE_FILE_NAME}'. Install it offline-friendly with "
        "`pip install --no-deps open_clip_torch==3.3.0`, or pass its path (a .txt.gz file or an open_clip wheel)."
    )


def _read_bpe_lines(path: Path) -> list[str]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            raw = wheel.read(f"open_clip/{BPE_FILE_NAME}")
    else:
        raw = path.read_bytes()
    return gzip.decompress(raw).decode("utf-8").split("\n")


def build_clip_vocab_and_merges(bpe_path: str | os.PathLike | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary and merge list, built exactly as OpenAI's `SimpleTokenizer.__init__` does."""
    merges = [tuple(line.split()) for line in _read_bpe_lines(find_bpe_file(bpe_path))[1 : _NUM_MERGES + 1]]
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(tokens)}, merges


def default_cache_dir() -> Path:
    return Path(os.environ.get("NEGCLIP_CACHE", Path.home() / ".cache" / "negclip")) / "clip-tokenizer"


def load_clip_tokenizer(
    bpe_path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> TokenizersBackend:
    """OpenAI CLIP's tokenizer (fast, `tokenizers`-backed), built once offline and cached as files, with
    typographic quotes folded (`with_folded_quotes`)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not (cache / "tokenizer.json").is_file():
        vocab, merges = build_clip_vocab_and_merges(bpe_path)
        tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=CLIP_MAX_LENGTH)
        tokenizer.save_pretrained(cache)
    return with_folded_quotes(CLIPTokenizer.from_pretrained(cache))


def with_folded_quotes(tokenizer: PreTrainedTokenizerBase) -> TokenizersBackend:
    """`tokenizer` (CLIP's, fast) as a plain `TokenizersBackend` whose normaliser first folds typographic quotes to
    ASCII, as OpenAI's CLIP tokenizer does with ftfy: "isn’t" gets the ids of "isn't" (the tokens the negation head
    knows), and a prompt scores the same with either quote. transformers' `CLIPTokenizer` rebuilds its normaliser
    on every load, so the checkpoint names the plain class that loads `tokenizer.json` as saved."""
    if tokenizer.backend_tokenizer.normalizer.normalize_str("\u2019\u201c") == "'\"":
        return tokenizer  # already folds
    backend = copy.deepcopy(tokenizer.backend_tokenizer)
    backend.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(f"[{TYPOGRAPHIC_SINGLE_QUOTES}]"), "'"),
        normalizers.Replace(Regex(f"[{TYPOGRAPHIC_DOUBLE_QUOTES}]"), '"'),
        backend.normalizer,
    ])
    # CLIPTokenizer's decode drops the end-of-word marker in Python; the plain class needs it in the decoder.
    backend.decoder = decoders.Sequence([decoders.ByteLevel(), decoders.Replace("</w>", " "), decoders.Strip(" ", 0, 1)])
    return TokenizersBackend(
        tokenizer_object=backend, model_max_length=tokenizer.model_max_length,
        **{name: getattr(tokenizer, name) for name in ("bos_token", "eos_token", "pad_token", "unk_token")},
    )
