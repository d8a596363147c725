"""Negations composed into real captions: training text with a real caption's length, words and clauses.

A record is a human caption (`caption_bodies`, labelled affirmed word by word) with one or two negation clauses
put before it, after it, inside it (after its first noun phrase) or between it and a second caption, each negating a list of 1 to 4 noun phrases
mined from other captions. The grammar is small and general:
- a *frame* in the template notation of `negation_data` (`[cue words]`, `{items}` the negated list): verbal and
  existential cues ("[there are no] {items}", "[without] {items}"), nominal and adjectival ones ("[in the absence
  of] {items}", "[devoid of] {items}", "[lacking] {items}", "[not a single] {items}"), and postposed ones
  ("{items} [is nowhere to be seen]", "{items} [is noticeably absent]");
- a *list* style: one cue before the whole list ("no hat, glasses, or tie"), the cue repeated before each item
  ("no signs, no cars, and no buildings"), or "neither X nor Y";
- a *joiner* between the clause and the caption: a comma, a semicolon, a full stop, "as" / "while" before a
  caption that follows, or nothing.
Labels follow the prompt convention: cue words and list conjunctions 1, the negated noun phrases 2 (determiners,
modifiers, attached commas), every word of the caption 0, punctuation attached to the word before it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from modeling_negclip.configuration_negclip import AFFIRMED_ID as AFFIRMED, NEGATED_ID as NEGATED, NEGATION_CUE_ID as CUE

from .caption_bodies import DETERMINERS, mine_noun_phrases, read_caption_bodies
from .negation_vocab import get_vocabulary

# Frames: (template, article) with "bare" items lose a leading "a"/"an" ("no hat"), "det" items keep theirs.
# "{items}" is the list; a frame may only take one item ("one").
SUFFIX_FRAMES = (
    ("[with no] {items}", "bare"), ("[but no] {items}", "bare"), ("[and no] {items}", "bare"),
    ("[without] {items}", "det"), ("[but without] {items}", "det"), ("[without any] {items}", "bare"),
    ("[there is no] {items}", "bare"), ("[there are no] {items}", "bare"), ("[but there is no] {items}", "bare"),
    ("[and there are no] {items}", "bare"), ("[yet there is no] {items}", "bare"), ("[there's no] {items}", "bare"),
    ("[with no] {items} [in sight]", "bare"), ("[with no] {items} [visible]", "bare"), ("[with no] {items} [present]", "bare"),
    ("[devoid of] {items}", "det"), ("[in the absence of] {items}", "det"), ("[lacking] {items}", "det"),
    ("[that lacks] {items}", "det"), ("[which has no] {items}", "bare"), ("[free of] {items}", "bare"),
    ("[completely free of] {items}", "bare"), ("[empty of] {items}", "bare"), ("[with no sign of] {items}", "det"),
    ("[and] {items} [is nowhere to be seen]", "det"), ("[but] {items} [is missing]", "det"),
    ("[while] {items} [is noticeably absent]", "det"), ("[yet] {items} [cannot be seen]", "det"),
    ("[and] {items} [is not present]", "det"), ("{items} [nowhere in sight]", "bare"),
    ("[with not a single] {items} [in sight]", "one"), ("[but not a single] {items}", "one"),
    ("[not] {items}", "det"), ("[and not] {items}", "det"), ("[there isn't any] {items}", "bare"),
    ("[there aren't any] {items}", "bare"), ("[and it doesn't have] {items}", "det"), ("[no] {items}", "bare"),
    ("[absent from the scene is] {items}", "det"), ("[missing from the picture is] {items}", "det"),
    ("[with neither] {items}", "neither"), ("[but neither] {items}", "neither"), ("[without even] {items}", "det"),
    ("[minus] {items}", "det"), ("[with none of] {items}", "det"),
)
PREFIX_FRAMES = (
    ("[No] {items} [in sight]", "bare"), ("[There is no] {items}", "bare"), ("[There are no] {items}", "bare"),
    ("[Without] {items}", "det"), ("[In the absence of] {items}", "det"), ("[With no] {items} [around]", "bare"),
    ("[Not a single] {items} [is visible]", "one"), ("[No] {items} [can be seen]", "bare"), ("[No] {items}", "bare"),
    ("[Devoid of] {items}", "det"), ("[Lacking] {items}", "det"), ("[Absent are] {items}", "det"),
    ("{items} [is nowhere to be seen]", "det"), ("[With neither] {items}", "neither"),
)
INFIX_FRAMES = (
    ("[with no] {items}", "bare"), ("[without] {items}", "det"), ("[but no] {items}", "bare"),
    ("[lacking] {items}", "det"), ("[not] {items}", "det"), ("[devoid of] {items}", "det"),
)
SUFFIX_JOINERS = (",", ",", ";", ".", "")
PREFIX_JOINERS = (",", ",", ".", ";", "as", "while")
MIDDLE_JOINERS = (",", ";", ".", "and", "while", "as", "and here", "so")
NO_CUES = ("no", "No", "with no", "but no")  # frames whose cue can repeat before every item


@dataclass
class ComposerVocabulary:
    """The caption bodies and the noun phrases that fill the negated lists (from the same caption part).

    `clean_phrases`, when given, are the mined phrases that end in a known noun: a mined phrase can run into a verb
    ("two girls play"), which would teach the head that a caption's verb belongs to the negated list, so most items
    come from them and the rest from all phrases, for the vocabulary's breadth."""

    bodies: list[list[str]]
    phrases: list[list[str]]
    clean_phrases: list[list[str]] | None = None
    clean_share: float = 0.7

    def phrase(self, rng: random.Random) -> list[str]:
        if self.clean_phrases and rng.random() < self.clean_share:
            return rng.choice(self.clean_phrases)
        return rng.choice(self.phrases)


def known_nouns() -> frozenset[str]:
    """Singular and plural forms of the training vocabulary's nouns (`negation_vocab`, its train split)."""
    vocabulary = get_vocabulary("train")
    nouns = set()
    for pool in vars(vocabulary).values():
        for item in pool if isinstance(pool, tuple) else ():
            if hasattr(item, "singular"):
                nouns.update((item.singular, item.plural))
    return frozenset(nouns)


def composer_vocabulary(split: str = "train", data_dir=None, max_bodies: int | None = None) -> ComposerVocabulary:
    bodies = read_caption_bodies(split, data_dir)
    if max_bodies is not None:
        bodies = bodies[:max_bodies]
    phrases = mine_noun_phrases(bodies)
    nouns = known_nouns()
    return ComposerVocabulary(bodies, phrases, [p for p in phrases if p[-1] in nouns])


def _item(phrase: list[str], article: str, rng: random.Random) -> list[str]:
    words = list(phrase)
    if article in ("bare", "one", "neither") and words[0] in DETERMINERS and len(words) > 1:
        words = words[1:]  # "no hat", not "no a hat" or "no the hat"
    if article == "bare" and rng.random() < 0.1:
        words = ["any", *words]
    return words


def _render_list(items: list[list[str]], cue: str | None, repeat: bool, rng: random.Random) -> list[tuple[str, int]]:
    """The negated list as (word, label) pairs: items 2, conjunctions (and repeated cues) 1, commas attached."""
    conjunction = rng.choice(("or", "or", "and"))
    out: list[tuple[str, int]] = []
    for k, item in enumerate(items):
        if k and (k == len(items) - 1):
            if rng.random() < 0.6 or len(items) == 2:
                out.append((conjunction, CUE))
        if k and repeat:
            out.append((cue, CUE))
        out.extend((word, NEGATED) for word in item)
        if k < len(items) - 1 and (len(items) > 2 or rng.random() < 0.3):
            word, label = out[-1]
            out[-1] = (word + ",", label)
    return out


def _render_frame(frame: str, article: str, vocabulary: ComposerVocabulary, rng: random.Random) -> list[tuple[str, int]]:
    if article == "one":
        count = 1
    elif article == "neither":
        count = rng.choice((2, 2, 3))
    else:
        count = rng.choice((1, 1, 2, 2, 3, 4))
    items = [_item(vocabulary.phrase(rng), article, rng) for _ in range(count)]
    out: list[tuple[str, int]] = []
    for part in frame.replace("[", "|[").replace("]", "]|").split("|"):
        part = part.strip()
        if not part:
            continue
        if part == "{items}":
            if article == "neither":
                for k, item in enumerate(items):
                    if k:
                        out.append(("nor", CUE))
                    out.extend((word, NEGATED) for word in item)
                continue
            cue = out[-1][0].lower() if out else None
            repeat = cue is not None and " ".join(w for w, _ in out[-2:]).endswith(NO_CUES) and rng.random() < 0.5
            out.extend(_render_list(items, cue, repeat, rng))
        else:
            out.extend((word, CUE) for word in part.strip("[]").split())
    return out


def _capitalise(out: list[tuple[str, int]]) -> None:
    out[0] = (out[0][0][:1].upper() + out[0][0][1:], out[0][1])


def _body(words: list[str]) -> list[str]:
    words = list(words)
    if words[-1] in (".", "!"):
        words = words[:-1]
    words[-1] = words[-1].rstrip(".!")
    return words or ["picture"]


def _attach(out: list[tuple[str, int]], mark: str) -> None:
    word, label = out[-1]
    out[-1] = (word + mark, label)


def _lower_first(words: list[str]) -> list[str]:
    return [words[0].lower() if words[0].lower() in DETERMINERS else words[0], *words[1:]]


def compose_record(vocabulary: ComposerVocabulary, rng: random.Random) -> dict:
    """One caption with a negation clause before, after or inside it (sometimes two); `words` and `labels`."""
    body = _body(rng.choice(vocabulary.bodies))
    position = rng.choices(("suffix", "prefix", "infix", "both", "middle"), weights=(4, 2, 2, 1, 3))[0]
    out: list[tuple[str, int]] = []
    if position in ("prefix", "both"):
        out = _render_frame(*rng.choice(PREFIX_FRAMES), vocabulary, rng)
        _capitalise(out)
        joiner = rng.choice(PREFIX_JOINERS)
        if joiner in (",", ".", ";"):
            _attach(out, joiner)
            body = body if joiner == "." else _lower_first(body)
        else:
            out.append((joiner, AFFIRMED))
            body = _lower_first(body)
    if position == "infix":
        cut = next((i for i in range(2, len(body)) if body[i].lower() in ("in", "on", "at", "is", "are", "with", "near", "and")
                    or body[i].endswith("ing")), None)
        if cut is None or body[0].lower() not in DETERMINERS:
            position = "suffix"
        else:
            clause = _render_frame(*rng.choice(INFIX_FRAMES), vocabulary, rng)
            if rng.random() < 0.4:
                body[cut - 1] += ","
                _attach(clause, ",")
            out.extend((word, AFFIRMED) for word in body[:cut])
            out.extend(clause)
            out.extend((word, AFFIRMED) for word in body[cut:])
    if position != "infix":
        out.extend((word, AFFIRMED) for word in body)
    if position == "middle":  # a negation clause between two captions: its scope must stop where the next one starts
        clause = _render_frame(*rng.choice(SUFFIX_FRAMES), vocabulary, rng)
        _attach(out, rng.choice((",", ";", ".")))
        if out[-1][0].endswith("."):
            _capitalise(clause)
        out.extend(clause)
        joiner = rng.choice(MIDDLE_JOINERS)
        if joiner in (",", ";", "."):
            _attach(out, joiner)
        else:
            _attach(out, ",")
            out.extend((word, AFFIRMED) for word in joiner.split())
        second = _body(rng.choice(vocabulary.bodies))
        out.extend((word, AFFIRMED) for word in (second if joiner == "." else _lower_first(second)))
    if position in ("suffix", "both"):
        joiner = rng.choice(SUFFIX_JOINERS)
        frame, article = rng.choice(SUFFIX_FRAMES)
        clause = _render_frame(frame, article, vocabulary, rng)
        if joiner:
            _attach(out, joiner)
        if joiner == ".":
            _capitalise(clause)
        out.extend(clause)
    if rng.random() < 0.6:
        _attach(out, ".")
    if rng.random() < 0.15:  # typed like a search query
        out = [(word.lower(), label) for word, label in out]
    return {"words": [w for w, _ in out], "labels": [label for _, label in out]}


def composed_rows(n: int, seed: int, split: str = "train", data_dir=None) -> list[dict]:
    """`n` composed captions from one caption part ("train", or "heldout" for a report, never trained on)."""
    vocabulary = composer_vocabulary(split, data_dir)
    rng = random.Random(f"negclip-composed-{split}-{seed}")
    return [compose_record(vocabulary, rng) for _ in range(n)]


__all__ = ["ComposerVocabulary", "compose_record", "composed_rows", "composer_vocabulary"]
