"""The cue gate: which prompts the negation head reads at all.

Negation cues are a closed class of words ("no", "not", "without", "n't", ...). A prompt holding none of their
tokens cannot negate anything, so it skips the head, is tagged all affirmed and scores exactly as CLIP scores it:
that saves the head's cost on affirmative prompts, and stops a head from tagging words of a cue-less prompt
negated (both measured in the project's docs/experiments.md). Affixal negation ("unmade", "sleeveless") is out of its reach;
under the prompt convention such a word is a cue with nothing to split off anyway.

Only torch here: this file travels with every checkpoint.
"""

import torch

# Typographic quotes folded to ASCII before tokenizing, as OpenAI CLIP's own tokenizer does (ftfy.fix_text's
# uncurl_quotes): "isn’t" (U+2019, what phones and word processors type) must split as "isn't" does. One character
# for one, so offsets into the folded text are offsets into the prompt.
TYPOGRAPHIC_SINGLE_QUOTES = "\u02bc\u2018\u2019\u201a\u201b"
TYPOGRAPHIC_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f"
_ASCII_QUOTES = str.maketrans({**dict.fromkeys(TYPOGRAPHIC_SINGLE_QUOTES, "'"), **dict.fromkeys(TYPOGRAPHIC_DOUBLE_QUOTES, '"')})


def fold_typographic_quotes(text: str) -> str:
    """`text` with typographic quotes and apostrophes replaced by ASCII ones, character for character."""
    return text.translate(_ASCII_QUOTES)

# Cue words of the constructions the head is trained on, plus standard lexicon entries (NegEx-style). Stems of
# "n't" contractions are listed too, for a typographic apostrophe ("isn’t") that CLIP's BPE splits differently.
DEFAULT_NEGATION_CUE_WORDS = (
    "no", "not", "'t", "never", "none", "nobody", "nothing", "nowhere", "neither", "nor", "without", "cannot",
    "except", "excluding", "exclude", "excludes", "lacking", "lack", "lacks", "absent", "absence", "missing",
    "rather", "instead", "free", "devoid", "empty", "sans", "minus", "unable", "impossible",
    "isn", "aren", "wasn", "weren", "doesn", "don", "didn", "hasn", "haven", "hadn", "won", "wouldn", "couldn",
    "shouldn", "mustn", "ain",
)


def negation_cue_token_ids(tokenizer, words) -> list[int]:
    """Sorted ids of each word's first BPE token, the word tokenized on its own (CLIP's tokenizer lowercases, so
    "No" and "no" share one id). The first token is enough: a prompt holding the word holds it."""
    ids = set()
    for word in words:
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
        if not word.strip() or not pieces:
            raise ValueError(f"negation cue word {word!r} gives no token")
        ids.add(int(pieces[0]))
    return sorted(ids)


def cue_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor, cue_ids: torch.Tensor) -> torch.Tensor:
    """(B,) True where a prompt holds a cue token (padding aside)."""
    return (torch.isin(input_ids, cue_ids) & attention_mask.bool()).any(dim=1)
