"""Synthetic negation prompts with word labels, for training and evaluating the negation head.

Every record is a CLIP-style prompt split on whitespace into `words`, with one label per word:
0 affirmed, 1 negation cue, 2 negated (`NEGATION_LABELS`). `positive` joins the words labelled 0 and
`negative` the words labelled 2, so a splitter can be scored by exact string match.

Label convention (applied by every template, checked by the tests):
- Cue (1): the negation words ("no", "not", "never", "none", "without", "neither", "nor", "except",
  "lacking", "missing", "absent", "isn't", ...), multiword cues as a whole ("but not", "rather than",
  "instead of", "free of", "except for"), and the function words that only carry the negation: the
  existential/copula frame ("there is no", "that is not", "who isn't", "is not present", "is
  absent"), a support verb of presence under negation ("doesn't have", "that doesn't contain"), a
  connector whose complements are all negated ("with no", "and not", "but no", "where ... is
  absent"), and intensifiers of the negation ("at all", "clearly not").
- Negated (2): the content whose presence is denied, with its own determiners and modifiers: the
  noun phrase ("a red car" in "without a red car", "red cars" in "no red cars", "any cats"), the
  attribute ("red" in "a car that is not red") or the action ("holding an umbrella").
- Affirmed (0): everything else, including content verbs outside a negation ("a photo showing a
  cat") and every word of prompts without negation. Traps that a keyword matcher gets wrong are
  all affirmed: "knot", "notebook", "Nottingham", "no. 5", "nothing but soup" (only soup), "not only
  X but also Y", "a never-ending road", "a no-parking sign" and "a 'no parking' sign" (the sign is there).
Punctuation stays attached to its word ("kitchen," keeps the label of "kitchen").

Templates are written in a small notation: `[...]` cue words, `<slot>` a negated slot, `{slot}` an
affirmed slot, other words affirmed; a lone "," or "." attaches to the word before it. Each
construction has TRAIN templates and different HELD-OUT templates; the held-out split also draws
its nouns and actions from the held-out vocabulary (`negation_vocab`).
"""

from __future__ import annotations

import csv
import itertools
import os
import random
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from modeling_negclip.configuration_negclip import AFFIRMED_ID as AFFIRMED, NEGATED_ID as NEGATED, NEGATION_CUE_ID as CUE

from .negation_vocab import Action, Noun, Place, Vocabulary, get_vocabulary, open_vocabulary, pluralize

SPLITS = ("train", "heldout")

# ---------------------------------------------------------------------------------------------
# Templates: construction -> (TRAIN templates, HELD-OUT templates).
# ---------------------------------------------------------------------------------------------
NEGATION_TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "no": (
        (
            "{scene} [with no] <bare>", "{person} [with no] <wear_bare>", "[No] <bare_pl> {place_pp}",
            "{scene} with {obj} [and no] <bare>", "{person} {act} , [with no] <wear_bare>",
            "{obj_pl} {place_pp} , [no] <bare_pl>",
            "{scene} [showing no] <bare_pl>", "{scene} [that has no] <bare>", "[No] <bare_pl> [are visible] {place_pp}",
            "{scene} with {obj} , [absolutely no] <bare_pl>", "{scene} [with no] <bare_pl> [whatsoever]",
            "{person} [wearing no] <wear_bare>", "{obj_pl} {place_pp} [but no] <bare_pl>",
            "{scene} [which has no] <bare_pl> [in sight]", "[no] <bare_sg> [can be found] {place_pp}",
            "{people} [having no] <bare_pl> [anywhere]", "{scene} , [definitely no] <bare_pl>",
            "{obj_pl} , [entirely without] <bare_pl>", "{scene} [with clearly no] <bare_pl>",
        ),
        (
            "{place_pp} , [no] <bare_pl> [at all]", "a picture showing {obj} [but no] <bare>",
            "{scene} [containing no] <bare_pl>", "[No] <bare_pl> [can be seen] {place_pp}",
            "{person} {place_pp} [with no] <wear_bare> [on]",
        ),
    ),
    "there_is_no": (
        (
            "[there is no] <bare_sg> {place_pp}", "[there are no] <bare_pl> {place_pp}",
            "{place_pp} , [there is no] <bare_sg>", "{scene} [where there are no] <bare_pl>",
            "[there isn't] <a_sg> {place_pp}", "[there is not] <a_sg> {place_pp}",
            "{scene} , [there are no] <bare_pl> [anywhere]", "{place_pp} , [there is no] <bare_sg> <act>",
        ),
        (
            "[there's no] <bare_sg> {place_pp}", "[there aren't] <any_pl> {place_pp}",
            "{place_pp} [there are no] <bare_pl> <act>", "{scene} , [and there is no] <bare_sg> [anywhere]",
        ),
    ),
    "not": (
        (
            "{obj_sg} [that is not] <attr>", "{obj_pl} [that are not] <attr>", "{person} [not] <act>",
            "{person} [who is not] <act> {place_pp}", "{obj_sg} {place_pp} , [not] <attr>",
            "{place_pp} , [not] <a_sg> [but] {a_sg}",
            "{obj_sg} [that is certainly not] <attr>", "{person} , [obviously not] <act>",
            "{person} {place_pp} [who is really not] <act>", "{obj_pl} [which are not] <attr> {place_pp}",
            "{obj_sg} {place_pp} , [definitely not] <attr>", "{people} [who are clearly not] <act>",
            "{person} [not] <act> , [but rather] {act}", "{obj_pl} [that are entirely not] <attr>",
            "[not] <bare_pl> [but] {bare_pl} {place_pp}",
        ),
        (
            "{obj_sg} [which is not] <attr>", "{person} {place_pp} , [clearly not] <act>",
            "{person} [who is definitely not] <act>", "{scene} [that is not] <place_attr>",
            "[not] <a_sg> , [but rather] {a_sg} {place_pp}",
        ),
    ),
    "nt": (
        (
            "{the_person} [isn't] <act>", "{the_obj_sg} [isn't] <attr>", "{the_obj_pl} [aren't] <attr>",
            "{the_place} [doesn't have] <np>", "{people} [who don't have] <any_pl>",
            "{people} {place_pp} [don't] <act_base>",
            "{person} [who doesn't have] <wear>", "{scene} [which doesn't include] <np>", "{obj_sg} [that isn't] <attr>",
            "{people} [who aren't] <act> {place_pp}",
        ),
        (
            "{person} [who isn't] <act>", "{scene} [that doesn't contain] <np>", "{obj_pl} [that aren't] <attr>",
            "{person} {place_pp} [who doesn't] <act_base>", "the photo [doesn't show] <np> , only {obj}",
        ),
    ),
    "without": (
        (
            "{scene} [without] <np>", "{person} [without] <wear>", "{person} {place_pp} [without] <wear>",
            "{obj_sg} [without] <np> , {place_pp}", "{person} [without] <wear> {act}",
            "[Without] <np> , {scene} with {obj}",
            "{scene} [and without] <np>", "{person} , [completely without] <wear>", "{scene} [without] <any_pl> [at all]",
            "{person} [clearly without] <wear> {place_pp}",
        ),
        (
            "{scene} , [but without] <np>", "{person} [who is without] <wear>", "{scene} , {obj} , [without] <np>",
            "[without] <np> , {person} {act}", "{obj_pl} {place_pp} [without] <any_pl>",
        ),
    ),
    "but_not": (
        (
            "{obj} [but not] <np>", "{scene} with {obj} [but not] <np>", "{person} with {wear} [but not] <wear>",
            "{obj_pl} and {obj_pl} [but not] <bare_pl>",
            "{person} {act} , [but not] <act>", "a photo of {obj} [but not] <np> {place_pp}",
        ),
        (
            "{obj} {place_pp} , [but not] <np>", "{person} {act} [but not] <act>",
            "an image showing {obj} [but not] <np>",
        ),
    ),
    "except": (
        (
            "all the {bare_pl} {place_pp} [except] <the_sg>", "{scene} full of {bare_pl} [except] <bare_pl>",
            "every {bare_sg} [except] <the_sg> {place_pp}",
            "every {bare_sg} {place_pp} [except for] <the_sg>", "{bare_pl} {place_pp} , all [except] <the_sg>",
            "{people} {act} [except] <the_person>",
        ),
        (
            "everything {place_pp} [except for] <np>", "{people} , all {act} [except] <the_person>",
            "{bare_pl} of all colors [except] <color>",
        ),
    ),
    "rather_than": (
        (
            "{obj} [rather than] <np>", "{person} {act} [rather than] <act>",
            "{scene} with {obj} [rather than] <np>",
            "[rather than] <act> , {the_person} is {act}", "{scene} full of {bare_pl} [rather than] <bare_pl>",
        ),
        (
            "[rather than] <np> , {obj} {place_pp}", "{person} holding {obj} [rather than] <np>",
        ),
    ),
    "instead_of": (
        (
            "{obj} [instead of] <np>", "{person} with {wear} [instead of] <wear>",
            "{scene} with {obj} [instead of] <np>",
            "[instead of] <act> , {people} {act}", "{obj_pl} {place_pp} [instead of] <bare_pl>",
        ),
        (
            "{person} {act} [instead of] <act>", "[instead of] <np> , {scene} with {obj}",
        ),
    ),
    "neither_nor": (
        (
            "{scene} [with neither] <np> [nor] <np>", "{person} [with neither] <wear> [nor] <wear>",
            "{person} [neither] <act> [nor] <act>",
            "{obj_sg} [that is neither] <attr> [nor] <attr>", "[neither] <bare_pl> [nor] <bare_pl> , just {obj}",
            "{scene} [having neither] <np> [nor] <np>",
        ),
        (
            "[neither] <np> [nor] <np> {place_pp}", "{scene} [that has neither] <np> [nor] <np>",
            "{the_person} [is neither] <act> [nor] <act>",
        ),
    ),
    "none": (
        (
            "{obj_pl} {place_pp} , [none of them] <attr>", "{people} , [none of them] <act>",
            "{people} {place_pp} , [and none of them] <act>", "[none of the] {people} [is] <act>",
            "{bare_pl} {place_pp} , [none of which are] <attr>",
        ),
        (
            "{people} {place_pp} , [but none] <act>", "[none of the] {bare_pl} {place_pp} [are] <attr>",
        ),
    ),
    "never": (
        (
            "{scene} [that is never] <place_attr>", "{person} [who is never] <act>",
            "{person} [who never] <act_base>", "{obj_pl} [that were never] <attr>",
        ),
        (
            "{scene} , [never] <place_attr>", "{obj_pl} [that are never] <attr>",
        ),
    ),
    "lacking": (
        (
            "{scene} [lacking] <np>", "{obj_sg} [lacking] <np>",
            "{person} [lacking] <wear>", "{obj_pl} [totally lacking] <np>", "{scene} , [lacking] <any_pl>",
        ),
        (
            "{person} , [clearly lacking] <wear>", "{scene} [that is lacking] <np>",
        ),
    ),
    "free_of": (
        (
            "{scene} [free of] <bare_pl>", "{obj_sg} {place_pp} , [free of] <bare_pl>",
            "{scene} [totally free of] <bare_pl>", "{obj_sg} [that is free of] <bare_pl>",
        ),
        (
            "{scene} [completely free of] <bare_pl>", "{place_pp} , [entirely free of] <bare_pl>",
        ),
    ),
    "missing": (
        (
            "{obj_sg} [missing] <np>", "{scene} [with] <the_sg> [missing]",
            "{person} [missing] <wear>", "{scene} , [with] <the_pl> [missing]",
        ),
        (
            "{scene} , <the_sg> [is missing]", "{person} [who is missing] <wear>",
        ),
    ),
    "absent": (
        (
            "{scene} [with] <bare_pl> [absent]", "{scene} , <the_sg> [absent]",
            "{scene} [in which] <the_pl> [are absent]", "<the_pl> [are absent] {place_pp}",
            "<the_pl> [are missing from] {scene}", "{scene} , [with] <the_pl> [nowhere in sight]",
        ),
        (
            "{scene} [where] <the_sg> [is absent]", "<the_sg> [is absent from] {scene}",
        ),
    ),
    "not_present": (
        (
            "{scene} [where] <the_sg> [is not present]", "{scene} , <the_sg> [is not present]",
            "<a_sg> [is not present] {place_pp}",
            "{scene} [in which] <the_sg> [is not present]", "<the_sg> [is nowhere to be found] {place_pp}",
            "{scene} , <the_pl> [are not visible]",
            "{scene} [on which] <a_sg> [cannot be seen]", "<the_pl> [are nowhere] {place_pp}",
        ),
        (
            "{scene} [in which] <the_sg> [is nowhere to be seen]", "<the_pl> [are not present] {place_pp}",
            "{scene} , <a_sg> [is not in sight]",
        ),
    ),
    "multiple": (
        (
            "{person} [without] <wear> [and not] <act>", "{scene} [with no] <bare> [and no] <bare>",
            "{obj_sg} [that is not] <attr> , [without] <np>", "{scene} [without] <np> [or] <np>",
            "{person} [not] <act> , [with no] <wear_bare> , {place_pp}",
            "{person} [without] <wear> [and without] <wear>", "{scene} [with no] <bare_pl> , [no] <bare_pl> , [and no] <bare_pl>",
            "{obj_sg} [that isn't] <attr> [and no] <bare>", "{person} [who is not] <act> [and not] <act>",
        ),
        (
            "{person} [who is not] <act> [and has no] <wear_bare>",
            "{scene} [with neither] <np> [nor] <np> , {obj} [but no] <bare>",
            "{obj_pl} [that aren't] <attr> , [and no] <bare_pl> {place_pp}",
            "[no] <bare_pl> [and no] <bare_pl> {place_pp}",
        ),
    ),
}

AFFIRMATIVE_TEMPLATES: tuple[tuple[str, ...], tuple[str, ...]] = (
    (
        "{obj_sg} that is {attr}", "{obj_pl} that are {attr}", "{person} {act} {place_pp}", "{person} who is {act}",
        "{scene} with {obj}", "{scene} with {obj} and {obj}", "{person} with {wear}",
        "{person} {place_pp} with {wear}", "{obj} {pp}", "a photo of {obj} {place_pp}",
        "there is {a_sg} {place_pp}", "there are {bare_pl} {place_pp}", "{scene} where {the_sg} is present",
        "{the_person} is {act}", "{obj} and {obj} {place_pp}", "{obj} , {obj} and {obj}",
        "{scene} containing {obj}", "{person} who has {wear}", "{scene} that shows {obj}", "{person} wearing {wear}",
        "{obj} is visible {place_pp}", "{obj} can be seen {place_pp}", "all the {bare_pl} are {attr}",
        "{scene} with {obj} everywhere", "{person} , definitely {act}", "{people} , all of them {act}",
        "{obj} instead", "{person} in {place_attr} weather , {act}",
        "a photo showing {obj} {place_pp}", "{scene} showing {obj} and {obj}", "{person} having {food} {place_pp}",
        "{obj_sg} that is clearly {attr}", "{scene} on which {the_pl} are clearly visible", "{person} definitely {act}",
        "{scene} where {the_sg} is entirely {attr}", "{obj_pl} and {obj_pl} , and {obj_pl} {place_pp}",
    ),
    (
        "{obj_pl} sitting {pp}", "an image showing {obj} next to {obj}", "{people} {act} together {place_pp}",
        "{scene} full of {bare_pl}", "a close-up of {obj}", "{person} holding {obj} {place_pp}",
        "{obj_sg} which is {attr}", "{scene} in which {the_sg} is clearly visible", "{person} , {act} , {place_pp}",
        "{the_pl} are present {place_pp}",
    ),
)

# All affirmed, though a keyword matcher sees a negation.
TRAP_TEMPLATES: tuple[tuple[str, ...], tuple[str, ...]] = (
    (
        "{person} tying a knot {place_pp}", "a notebook {pp}", "{scene} with nothing but {food}",
        "nothing but {food} on a plate", "not only {obj} but also {obj} {place_pp}",
        "a jersey with no. {num} on the back", "a street in Nottingham with {obj}",
        "a never-ending road through {scene}", "a no-parking sign {pp}", "{animal} sniffing with its nose",
        "a bowl of noodles {pp}", "a no smoking sign on the wall {place_pp}", "sticky notes on a monitor",
        "{the_person} is not only {act} but also {act}",
        "{person} not only {act} but {act} too", "{scene} containing nothing but {bare_pl}",
        "{person} waiting at {label_noun} no. {num}", "a bus with route no. {num} {place_pp}",
        "{obj_sg} with no. {num} printed on it", "a {sign_text} sign {pp}", "a sign reading {sign_text} {place_pp}",
        "a 'do not disturb' sign on {obj}",
    ),
    (
        "a rope with a knot in it {place_pp}", "a pile of notebooks {pp}", "{person} eating nothing but {food}",
        "{scene} with not only {obj} but {obj} as well", "{person} standing on platform no. {num}",
        "a map of Nottingham {pp}", "a never-ending queue of {bare_pl}", "a 'no entry' sign next to {obj}",
        "a non-stick pan on a stove", "nothing but {color} sky above {scene}", "{person} at noon , {act}",
    ),
)

# Sampling weights of the three families; negated constructions share theirs equally.
NEGATED_WEIGHT, AFFIRMATIVE_WEIGHT, TRAP_WEIGHT = 0.62, 0.27, 0.11


# ---------------------------------------------------------------------------------------------
# Slots: each fills a template slot with words drawn from the split's vocabulary.
# ---------------------------------------------------------------------------------------------
_AN_EXCEPTIONS = re.compile(r"^(uni|use|usu|eu|one|once)")
_AN_SILENT_H = re.compile(r"^(hour|honest|honor)")


def indefinite_article(word: str) -> str:
    """"a" or "an" for the word that follows."""
    word = word.lower()
    if _AN_SILENT_H.match(word):
        return "an"
    return "an" if word[:1] in "aeiou" and not _AN_EXCEPTIONS.match(word) else "a"


@dataclass
class _Context:
    rng: random.Random
    vocab: Vocabulary
    used: set[str] = field(default_factory=set)
    open_words: tuple[str, ...] = ()
    open_rate: float = 0.0

    def open_word(self) -> str | None:
        """With probability `open_rate`, a word of the open vocabulary to fill a slot with instead.

        No random number is drawn when `open_rate` is 0, so plain records stay exactly as they were."""
        if self.open_rate and self.rng.random() < self.open_rate:
            return self.rng.choice(self.open_words)
        return None

    def word(self, pool: tuple[str, ...]) -> str:
        """An attribute word from the pool, or an open-vocabulary word."""
        return self.open_word() or self.rng.choice(pool)

    def noun(self, pool: tuple[Noun, ...], countable: bool = False) -> Noun:
        """A noun not used yet in this prompt, so "a cat but not a cat" cannot happen.

        `countable` keeps the nouns that have an "a ..." singular (see `_countable`)."""
        word = self.open_word()
        if word is not None:
            return Noun(word, pluralize(word))
        candidates = _countable(pool) if countable else pool
        for _ in range(20):
            noun = self.rng.choice(candidates)
            if noun.singular not in self.used:
                break
        self.used.add(noun.singular)
        return noun

    def maybe(self, probability: float) -> bool:
        return self.rng.random() < probability


@lru_cache(maxsize=None)
def _countable(pool: tuple[Noun, ...]) -> tuple[Noun, ...]:
    """Nouns with a singular that takes "a"/"an": not "bread", not "glasses"."""
    return tuple(noun for noun in pool if not (noun.mass or noun.plural_only))


def _modifier(ctx: _Context, probability: float = 0.4) -> list[str]:
    if not ctx.maybe(probability):
        return []
    return [ctx.word(ctx.vocab.colors if ctx.maybe(0.5) else ctx.vocab.object_attributes)]


def _with_article(words: list[str]) -> list[str]:
    return [indefinite_article(words[0]), *words]


def _object_pool(ctx: _Context) -> tuple[Noun, ...]:
    return ctx.vocab.objects


def _bare_sg(ctx: _Context) -> list[str]:
    noun = ctx.noun(_object_pool(ctx))
    return _modifier(ctx) + noun.singular.split()


def _bare_pl(ctx: _Context) -> list[str]:
    noun = ctx.noun(_object_pool(ctx))
    return _modifier(ctx) + noun.plural.split()


def _bare(ctx: _Context) -> list[str]:
    return _bare_pl(ctx) if ctx.maybe(0.5) else _bare_sg(ctx)


def _a_sg(ctx: _Context) -> list[str]:
    noun = ctx.noun(_object_pool(ctx), countable=True)
    return _with_article(_modifier(ctx) + noun.singular.split())


def _the_sg(ctx: _Context) -> list[str]:
    noun = ctx.noun(_object_pool(ctx), countable=True)
    return ["the", *_modifier(ctx, 0.3), *noun.singular.split()]


def _the_pl(ctx: _Context) -> list[str]:
    noun = ctx.noun(_object_pool(ctx), countable=True)
    return ["the", *_modifier(ctx, 0.3), *noun.plural.split()]


def _any_pl(ctx: _Context) -> list[str]:
    return ["any", *_bare_pl(ctx)]


def _obj_sg(ctx: _Context) -> list[str]:
    return _a_sg(ctx) if ctx.maybe(0.75) else _the_sg(ctx)


def _obj_pl(ctx: _Context) -> list[str]:
    noun = ctx.noun(_object_pool(ctx), countable=True)
    determiner = ctx.rng.choice([[], [], ["two"], ["three"], ["several"], ["some"], ["many"]])
    return determiner + _modifier(ctx) + noun.plural.split()


def _obj(ctx: _Context) -> list[str]:
    return _obj_sg(ctx) if ctx.maybe(0.6) else _obj_pl(ctx)


def _np(ctx: _Context) -> list[str]:
    """A negated object noun phrase with its determiner: "a red car", "cars", "any cats", "the cup"."""
    choice = ctx.rng.random()
    if choice < 0.5:
        return _a_sg(ctx)
    if choice < 0.7:
        return _bare_pl(ctx)
    if choice < 0.85:
        return _any_pl(ctx)
    return _the_sg(ctx)


def _wear_bare(ctx: _Context) -> list[str]:
    noun = ctx.noun(ctx.vocab.wearables)
    form = noun.plural if noun.plural == noun.singular or ctx.maybe(0.3) else noun.singular
    return _modifier(ctx, 0.3) + form.split()


def _wear(ctx: _Context) -> list[str]:
    noun = ctx.noun(ctx.vocab.wearables)
    if noun.plural == noun.singular:  # "glasses", "gloves"
        return _modifier(ctx, 0.3) + noun.singular.split()
    return _with_article(_modifier(ctx, 0.3) + noun.singular.split())


def _person_noun(ctx: _Context) -> list[str]:
    noun = ctx.noun(ctx.vocab.people, countable=True)
    modifier = [ctx.word(ctx.vocab.person_attributes)] if ctx.maybe(0.3) else []
    return modifier + noun.singular.split()


def _person(ctx: _Context) -> list[str]:
    return _with_article(_person_noun(ctx))


def _the_person(ctx: _Context) -> list[str]:
    return ["the", *_person_noun(ctx)]


def _people(ctx: _Context) -> list[str]:
    noun = ctx.noun(ctx.vocab.people, countable=True)
    if noun.singular in ("person", "couple", "family"):
        return ["a", "group", "of", "people"] if noun.singular == "person" else ["two", *noun.plural.split()]
    determiner = ctx.rng.choice([["two"], ["three"], ["several"], ["some"], ["a", "group", "of"], []])
    return determiner + noun.plural.split()


def _place_words(ctx: _Context, determiner: str | None = None) -> tuple[list[str], str]:
    word = ctx.open_word()
    if word is not None:
        place = Place(Noun(word, pluralize(word)), ctx.rng.choice(("in", "on", "at", "near")))
    else:
        place = ctx.rng.choice(ctx.vocab.places)
    ctx.used.add(place.noun.singular)
    modifier = [ctx.word(ctx.vocab.place_attributes)] if ctx.maybe(0.3) else []
    words = modifier + place.noun.singular.split()
    if determiner is None:
        determiner = "the" if ctx.maybe(0.4) else indefinite_article(words[0])
    return [determiner, *words], place.preposition


def _scene(ctx: _Context) -> list[str]:
    words, _ = _place_words(ctx)
    prefix = ctx.rng.choice([[], [], [], ["a", "photo", "of"], ["a", "picture", "of"], ["a", "view", "of"]])
    return prefix + words


def _the_place(ctx: _Context) -> list[str]:
    return _place_words(ctx, "the")[0]


def _place_pp(ctx: _Context) -> list[str]:
    words, preposition = _place_words(ctx, "the")
    return [preposition, *words]


def _pp(ctx: _Context) -> list[str]:
    if ctx.maybe(0.4):
        return _place_pp(ctx)
    preposition = ctx.rng.choice(["on", "next to", "near", "under", "behind", "beside", "in front of"])
    return [*preposition.split(), *_obj_sg(ctx)]


def _action(ctx: _Context) -> Action:
    word = ctx.open_word()
    if word is not None:
        return Action(word, word)
    for _ in range(20):
        action = ctx.rng.choice(ctx.vocab.actions)
        if action.ing not in ctx.used:
            break
    ctx.used.add(action.ing)
    return action


def _act(ctx: _Context) -> list[str]:
    return _action(ctx).ing.split()


def _act_base(ctx: _Context) -> list[str]:
    return _action(ctx).base.split()


def _attr(ctx: _Context) -> list[str]:
    return [ctx.word(ctx.vocab.colors if ctx.maybe(0.6) else ctx.vocab.object_attributes)]


def _food(ctx: _Context) -> list[str]:
    noun = ctx.noun(ctx.vocab.food)
    return noun.plural.split()


def _label_noun(ctx: _Context) -> list[str]:
    """One noun word, as on a label or a number plate: "gate" (no. 5), "parking" ('no parking')."""
    return ctx.noun(_object_pool(ctx)).singular.split()[-1:]


def _sign_text(ctx: _Context) -> list[str]:
    """A prohibition sign's quoted text, which negates nothing in the scene: "'no parking'"."""
    return ["'no", _label_noun(ctx)[0] + "'"]


def _animal(ctx: _Context) -> list[str]:
    return _with_article(ctx.noun(ctx.vocab.animals, countable=True).singular.split())


SLOTS: dict[str, Callable[[_Context], list[str]]] = {
    "a_sg": _a_sg,
    "act": _act,
    "act_base": _act_base,
    "animal": _animal,
    "any_pl": _any_pl,
    "attr": _attr,
    "bare": _bare,
    "bare_pl": _bare_pl,
    "bare_sg": _bare_sg,
    "color": lambda ctx: [ctx.rng.choice(ctx.vocab.colors)],
    "food": _food,
    "label_noun": _label_noun,
    "np": _np,
    "num": lambda ctx: [str(ctx.rng.randint(1, 99))],
    "obj": _obj,
    "obj_pl": _obj_pl,
    "obj_sg": _obj_sg,
    "people": _people,
    "person": _person,
    "place_attr": lambda ctx: [ctx.rng.choice(ctx.vocab.place_attributes)],
    "place_pp": _place_pp,
    "pp": _pp,
    "scene": _scene,
    "sign_text": _sign_text,
    "the_obj_pl": _the_pl,
    "the_obj_sg": _the_sg,
    "the_person": _the_person,
    "the_pl": _the_pl,
    "the_place": _the_place,
    "the_sg": _the_sg,
    "wear": _wear,
    "wear_bare": _wear_bare,
}


# ---------------------------------------------------------------------------------------------
# Template parsing and rendering.
# ---------------------------------------------------------------------------------------------
_PART = re.compile(r"\[[^\]]+\]|<[a-z_]+>|\{[a-z_]+\}|[^\s\[<{]+")
_PUNCTUATION = re.compile(r"^[,.;:!?]+$")


@lru_cache(maxsize=None)
def parse_template(template: str) -> tuple[tuple[str, str, int], ...]:
    """Template -> parts `(kind, text, label)`; kind is "slot" or "words" ("punct" attaches left)."""
    parts = []
    for match in _PART.findall(template):
        if match.startswith("["):
            parts.append(("words", match[1:-1], CUE))
        elif match.startswith("<"):
            parts.append(("slot", match[1:-1], NEGATED))
        elif match.startswith("{"):
            parts.append(("slot", match[1:-1], AFFIRMED))
        elif _PUNCTUATION.match(match):
            parts.append(("punct", match, AFFIRMED))
        else:
            parts.append(("words", match, AFFIRMED))
    for kind, text, _ in parts:
        if kind == "slot" and text not in SLOTS:
            raise ValueError(f"Unknown slot <{text}> in template {template!r}")
    return tuple(parts)


def render_template(
    template: str, rng: random.Random, vocab: Vocabulary, open_words: tuple[str, ...] = (), open_rate: float = 0.0
) -> tuple[list[str], list[int]]:
    """Fill a template: the prompt's words and their labels.

    With `open_rate > 0`, each noun, attribute, place and action slot takes a word of `open_words`
    with that probability instead of one of the vocabulary's."""
    ctx = _Context(rng, vocab, open_words=open_words, open_rate=open_rate)
    words: list[str] = []
    labels: list[int] = []
    for kind, text, label in parse_template(template):
        if kind == "punct":
            words[-1] += text
            continue
        new_words = SLOTS[text](ctx) if kind == "slot" else text.split()
        words.extend(new_words)
        labels.extend([label] * len(new_words))
    return words, labels


def split_words(words: list[str], labels: list[int]) -> tuple[str, str]:
    """(positive, negative): the words labelled affirmed, and those labelled negated, each joined by spaces."""
    positive = " ".join(word for word, label in zip(words, labels) if label == AFFIRMED)
    negative = " ".join(word for word, label in zip(words, labels) if label == NEGATED)
    return positive, negative


def templates_for(split: str) -> dict[str, tuple[str, ...]]:
    """Construction name -> the templates of one split ("affirmative" and "trap" included)."""
    index = SPLITS.index(split) if split in SPLITS else None
    if index is None:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    table = {name: pair[index] for name, pair in NEGATION_TEMPLATES.items()}
    table["affirmative"] = AFFIRMATIVE_TEMPLATES[index]
    table["trap"] = TRAP_TEMPLATES[index]
    return table


def _finish(words: list[str], rng: random.Random) -> list[str]:
    """Surface variety: a capitalised first word half the time, a final period a quarter of the time."""
    words = list(words)
    if rng.random() < 0.5:
        words[0] = words[0][:1].upper() + words[0][1:]
    if rng.random() < 0.25 and not _PUNCTUATION.match(words[-1][-1]):
        words[-1] += "."
    return words


def generate_records(
    n: int, seed: int = 0, split: str = "train", open_vocabulary_rate: float = 0.0, vocabulary_split: str | None = None
) -> list[dict]:
    """`n` labelled prompts of one split, the same for the same arguments.

    Each record: `id`, `prompt`, `positive`, `negative`, `words`, `labels` (one per word) and, for
    analysis, `construction` and `template` (the template it was rendered from).

    `open_vocabulary_rate` (TRAIN only): the probability that a noun, attribute, place or action slot
    takes a word of `negation_vocab.open_vocabulary()` (CLIP's long tail, held-out words excluded), so
    a tagger trained on the records learns the frames, not the words ("a kitchen without a
    saxophone", "a bulgaria that is not fluffy").

    `vocabulary_split` (default: `split`) fills the split's templates with the other split's words, to tell
    apart what unseen templates and unseen nouns each cost a tagger (measured once; git history of the README keeps it).
    """
    if not 0.0 <= open_vocabulary_rate <= 1.0:
        raise ValueError(f"open_vocabulary_rate must be in [0, 1], got {open_vocabulary_rate}")
    if open_vocabulary_rate and split != "train":
        raise ValueError("open_vocabulary_rate is for the train split only: the held-out split keeps its own nouns")
    open_words = open_vocabulary() if open_vocabulary_rate else ()
    table = templates_for(split)
    vocab = get_vocabulary(split if vocabulary_split is None else vocabulary_split)
    rng = random.Random(f"negclip-negation-{split}-{seed}")
    negated = [name for name in table if name not in ("affirmative", "trap")]
    names = negated + ["affirmative", "trap"]
    weights = [NEGATED_WEIGHT / len(negated)] * len(negated) + [AFFIRMATIVE_WEIGHT, TRAP_WEIGHT]
    cum_weights = list(itertools.accumulate(weights))
    records = []
    for i in range(n):
        construction = rng.choices(names, cum_weights=cum_weights)[0]
        template = rng.choice(table[construction])
        words, labels = render_template(template, rng, vocab, open_words, open_vocabulary_rate)
        words = _finish(words, rng)
        positive, negative = split_words(words, labels)
        records.append(
            {
                "id": f"{split}-{seed}-{i:06d}",
                "prompt": " ".join(words),
                "positive": positive,
                "negative": negative,
                "words": words,
                "labels": labels,
                "construction": construction,
                "template": template,
            }
        )
    return records


def dataset_features():
    """`datasets.Features` of the records, with `labels` as class labels named by `NEGATION_LABELS`."""
    from datasets import ClassLabel, Features, Sequence, Value

    # Imported here: the modeling package pulls in torch, which generating records does not need.
    from modeling_negclip.configuration_negclip import NEGATION_LABELS

    return Features(
        {
            "id": Value("string"),
            "prompt": Value("string"),
            "positive": Value("string"),
            "negative": Value("string"),
            "words": Sequence(Value("string")),
            "labels": Sequence(ClassLabel(names=list(NEGATION_LABELS))),
            "construction": Value("string"),
            "template": Value("string"),
        }
    )


def records_to_dataset(records: list[dict]):
    """A `datasets.Dataset` from records (columns in `dataset_features()` order)."""
    from datasets import Dataset

    features = dataset_features()
    return Dataset.from_dict({name: [record[name] for record in records] for name in features}, features=features)


def build_dataset(n: int, seed: int = 0, split: str = "train"):
    """`generate_records` as a `datasets.Dataset`, ready for `save_to_disk` or `push_to_hub`."""
    return records_to_dataset(generate_records(n, seed, split))


CSV_COLUMNS = ("id", "prompt", "positive prompt", "negative prompt")


def export_csv(records: list[dict], path: str | os.PathLike) -> None:
    """Write `id,prompt,positive prompt,negative prompt` (the seed data's CSV layout)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for record in records:
            writer.writerow([record["id"], record["prompt"], record["positive"], record["negative"]])


@dataclass
class NegationDataArguments:
    out: str = field(metadata={"help": "Output folder: `dataset/` (a DatasetDict) and `train.csv`, `heldout.csv`."})
    num_train: int = field(default=20000, metadata={"help": "Number of TRAIN records."})
    num_heldout: int = field(default=2000, metadata={"help": "Number of HELD-OUT records."})
    seed: int = field(default=0, metadata={"help": "Seed of the generator."})

    def __post_init__(self):
        if self.num_train < 0 or self.num_heldout < 0:
            raise ValueError("--num-train and --num-heldout must be non-negative")


def main(argv: list[str] | None = None) -> None:
    from datasets import DatasetDict
    from transformers import HfArgumentParser

    # 1. Arguments.
    (args,) = HfArgumentParser(NegationDataArguments).parse_args_into_dataclasses(args=argv)
    out = Path(args.out)
    # 2. Records of both splits.
    records = {
        "train": generate_records(args.num_train, args.seed, "train"),
        "heldout": generate_records(args.num_heldout, args.seed, "heldout"),
    }
    # 3. Save the DatasetDict and the CSVs.
    DatasetDict({split: records_to_dataset(rows) for split, rows in records.items()}).save_to_disk(str(out / "dataset"))
    for split, rows in records.items():
        export_csv(rows, out / f"{split}.csv")
    print(f"Wrote {', '.join(f'{len(v)} {k}' for k, v in records.items())} records to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()


__all__ = [
    "AFFIRMATIVE_TEMPLATES",
    "NEGATION_TEMPLATES",
    "TRAP_TEMPLATES",
    "build_dataset",
    "export_csv",
    "generate_records",
    "records_to_dataset",
    "split_words",
    "templates_for",
]
