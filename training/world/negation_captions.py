"""Negated captions of shapes-world scenes, with word-level gold labels, and their truth rule.

A caption record is a plain dict (so it can go into a `datasets.Dataset`):

    prompt    "a red circle but not a blue square"
    words     prompt.split()                     ["a", "red", "circle", "but", "not", "a", "blue", "square"]
    labels    one per word: 0 affirmed/other, 1 negation cue, 2 negated
                                                 [0, 0, 0, 0, 1, 0, 2, 2]
    affirmed  [Mention.to_dict(), ...]           [{"shape": "circle", "colour": "red", "size": None}]
    negated   [Mention.to_dict(), ...]           [{"shape": "square", "colour": "blue", "size": None}]
    template  name of the template in `TEMPLATES`
    kind      "affirmation" | "negation" | "hybrid"

Labelling policy: only the words of a negated mention (colour and shape, e.g. "blue square") are 2;
articles and verbs around it ("a", "the", "is", "contain", "present") are 0; cue words ("no",
"not", "without", "neither", "nor", "isn't") are 1 ("does" in "does not" is 0, as in the *SEM 2012
CD-SCO annotation). A comma sticks to the word before it and keeps that word's label.

Truth rule (`caption_is_true`): the caption is true for a scene iff its affirmed mentions match
distinct objects of the scene and no object matches any negated mention. A mention matches an
object when the shape is equal and, if the mention names a colour, the colour is equal too. So
"no blue square" is true iff no object is a blue square (a red square does not falsify it), and
"no square" is true iff there is no square at all.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from .shapes_world import COLOURS, SHAPES, Mention, Scene, join_list, mentions_hold, with_article

AFFIRMATION, NEGATION, HYBRID = "affirmation", "negation", "hybrid"

# Placeholders: {A} the affirmed list with articles ("a red circle and a blue square"); {N1}, {N2}
# a negated mention with its article ("a blue square"); {T1} with "the"; {n1}, {n2} the bare mention
# ("blue square"). Words in [brackets] are negation cues. Other words are labelled 0. As in the
# synthetic negation data (`negation_data.py`), a negated mention's article is negated with it and
# the function words that only carry the negation ("there is no", "but not") are cues, so the
# positive prompt reads as a caption ("a red circle") and the negated one as an object ("a blue square").
TEMPLATES: dict[str, str] = {
    # affirmation
    "aff_list": "{A}",
    "aff_picture": "a picture of {A}",
    "aff_scene": "a scene with {A}",
    "aff_includes": "this image includes {A}",
    # negation, one negated object
    "neg_no": "[no] {n1}",
    "neg_not": "[not] {N1}",
    "neg_there_is_no": "[there is no] {n1}",
    "neg_isnt": "[there isn't] {N1}",
    "neg_does_not_contain": "a picture that [does not contain] {N1}",
    "neg_does_not_include": "this image [does not include] {N1}",
    "neg_without": "an image [without] {N1}",
    "neg_not_present": "{T1} [is not present]",
    # negation, two negated objects
    "neg_neither_nor": "[neither] {N1} [nor] {N2}",
    "neg_no_and_no": "[no] {n1} [and no] {n2}",
    # hybrid, one negated object
    "hyb_but_not": "{A} [but not] {N1}",
    "hyb_and_no": "{A} [and no] {n1}",
    "hyb_but_no": "{A} [but no] {n1}",
    "hyb_without": "{A} [without] {N1}",
    "hyb_with_no": "{A} [with no] {n1}",
    "hyb_scene_but_no": "a scene with {A} [but no] {n1}",
    "hyb_not_present": "{A}, {T1} [is not present]",
    "hyb_there_is_no": "{A}, [there is no] {n1}",
    "hyb_isnt": "{A}, [but there isn't] {N1}",
    "hyb_includes_but_not": "this image includes {A} [but not] {N1}",
    "hyb_contains_not": "a picture that contains {A} [but does not contain] {N1}",
    "hyb_not_first": "[not] {N1} but {A}",
    "hyb_no_first": "[no] {n1}, but {A}",
    # hybrid, two negated objects
    "hyb_neither_nor": "{A} [but neither] {N1} [nor] {N2}",
    "hyb_no_and_no": "{A} [but no] {n1} [and no] {n2}",
}

# Every word that some template tags as a negation cue.
CUE_WORDS = frozenset(word for text in TEMPLATES.values() for cue in re.findall(r"\[([^\]]+)\]", text) for word in cue.split())


def template_kind(template: str) -> str:
    text = TEMPLATES[template]
    has_affirmed, has_negated = "{A}" in text, "1}" in text
    return HYBRID if has_affirmed and has_negated else NEGATION if has_negated else AFFIRMATION


def template_num_negated(template: str) -> int:
    text = TEMPLATES[template]
    return 2 if "2}" in text else 1 if "1}" in text else 0


def templates_of(kind: str, num_negated: int | None = None) -> list[str]:
    """Names of the templates of `kind` (and, if given, with `num_negated` negated slots)."""
    return [
        name
        for name in TEMPLATES
        if template_kind(name) == kind and (num_negated is None or template_num_negated(name) == num_negated)
    ]


def _words(text: str, label: int) -> list[tuple[str, int]]:
    return [(word, label) for word in text.split()]


def make_caption(template: str, affirmed: Sequence[Mention] = (), negated: Sequence[Mention] = ()) -> dict:
    """The caption record of `template` filled with `affirmed` and `negated` mentions."""
    if template not in TEMPLATES:
        raise ValueError(f"Unknown template '{template}'")
    kind, num_negated = template_kind(template), template_num_negated(template)
    if (kind == HYBRID or kind == AFFIRMATION) != bool(affirmed):
        raise ValueError(f"Template '{template}' ({kind}) got {len(affirmed)} affirmed mentions")
    if len(negated) != num_negated:
        raise ValueError(f"Template '{template}' takes {num_negated} negated mentions, got {len(negated)}")

    pairs: list[tuple[str, int]] = []
    for piece in re.split(r"(\{\w+\}|\[[^\]]+\])", TEMPLATES[template]):
        if piece == "{A}":
            pairs += _words(join_list([with_article(m.phrase) for m in affirmed]), 0)
        elif piece.startswith("{"):
            mention = negated[int(piece[2]) - 1]
            article = {"N": with_article(mention.phrase).split()[0], "T": "the", "n": ""}[piece[1]]
            pairs += _words(f"{article} {mention.phrase}", 2)
        elif piece.startswith("["):
            pairs += _words(piece[1:-1], 1)
        else:
            for word, label in _words(piece, 0):
                if word[0] in ",." and pairs:  # punctuation sticks to the word before
                    prev_word, prev_label = pairs[-1]
                    pairs[-1] = (prev_word + word, prev_label)
                else:
                    pairs.append((word, label))
    words = [w for w, _ in pairs]
    return {
        "prompt": " ".join(words),
        "words": words,
        "labels": [label for _, label in pairs],
        "affirmed": [m.to_dict() for m in affirmed],
        "negated": [m.to_dict() for m in negated],
        "template": template,
        "kind": kind,
    }


def caption_is_true(caption_record: dict, scene: Scene) -> bool:
    """See the module docstring: affirmed mentions match distinct objects, negated ones match none."""
    affirmed = [Mention.from_dict(m) for m in caption_record["affirmed"]]
    negated = [Mention.from_dict(m) for m in caption_record["negated"]]
    return mentions_hold(affirmed, negated, scene)


def negated_prompt_parts(caption_record: dict) -> tuple[str, str]:
    """The gold (positive prompt, negated prompt) split: words labelled 0, and words labelled 2."""
    words, labels = caption_record["words"], caption_record["labels"]
    positive = " ".join(w.rstrip(",.") for w, label in zip(words, labels) if label == 0)
    negated = " ".join(w.rstrip(",.") for w, label in zip(words, labels) if label == 2)
    return positive, negated


# ---------------------------------------------------------------------------------------------
# Choosing mentions for a scene
# ---------------------------------------------------------------------------------------------


def _overlaps(a: Mention, b: Mention) -> bool:
    """Whether one object could match both mentions (same shape, colours not in conflict)."""
    return a.shape == b.shape and (a.colour is None or b.colour is None or a.colour == b.colour)


def absent_mentions(scene: Scene, hardness: str = "any") -> list[Mention]:
    """Colour + shape mentions that no object of `scene` matches, in a fixed order.

    hardness: "any"; "shape" (shape of a present object, another colour); "colour" (colour of a
    present object, another shape); "binding" (colour of one present object and shape of another,
    the case a bag-of-words model cannot tell from the scene); "hard" (shape, colour or binding).
    """
    present = {(o.shape, o.colour) for o in scene.objects}
    shapes, colours = {o.shape for o in scene.objects}, {o.colour for o in scene.objects}
    keep = {
        "any": lambda s, c: True,
        "shape": lambda s, c: s in shapes,
        "colour": lambda s, c: c in colours,
        "binding": lambda s, c: s in shapes and c in colours,
        "hard": lambda s, c: s in shapes or c in colours,
    }[hardness]
    return [Mention(s, c) for s in SHAPES for c in COLOURS if (s, c) not in present and keep(s, c)]


def absent_shape_mentions(scene: Scene) -> list[Mention]:
    """Shape-only mentions ("square") of the shapes absent from `scene`."""
    shapes = {o.shape for o in scene.objects}
    return [Mention(s) for s in SHAPES if s not in shapes]


def sample_hard_absent(scene: Scene, rng: random.Random) -> Mention:
    """An absent colour + shape mention that shares attributes with the scene: one of binding, shape
    or colour hardness (random order, the first the scene allows), else any absent mention."""
    for hardness in rng.sample(["binding", "shape", "colour"], 3):
        candidates = absent_mentions(scene, hardness)
        if candidates:
            return rng.choice(candidates)
    return rng.choice(absent_mentions(scene))


def _sample_absent(scene: Scene, rng: random.Random, shape_only_prob: float, hard_prob: float) -> Mention:
    if rng.random() < shape_only_prob:
        candidates = absent_shape_mentions(scene)
        if candidates:
            return rng.choice(candidates)
    if rng.random() < hard_prob:
        return rng.choice(absent_mentions(scene, rng.choice(["shape", "colour", "binding"])) or absent_mentions(scene))
    return rng.choice(absent_mentions(scene))


def sample_negated_caption(
    scene: Scene,
    rng: random.Random,
    truth: bool = True,
    kind: str | None = None,
    template: str | None = None,
    two_negated_prob: float = 0.15,
    shape_only_prob: float = 0.2,
    hard_prob: float = 0.7,
) -> dict:
    """A random negation or hybrid caption record of `scene` that is `truth` for it.

    True captions negate absent mentions: with probability `shape_only_prob` a shape-only one ("no
    square", only if no square is present), otherwise colour + shape, with probability `hard_prob`
    sharing the shape, the colour or both attributes (crosswise) with present objects. False
    captions negate a present object (presence-based negation); the affirmed part is then always
    true, so only the negation makes the caption false. Affirmed mentions are present objects named
    by colour + shape, or by shape only with probability `shape_only_prob`.

    kind: "negation" or "hybrid" (random if None; ignored when `template` is given).
    """
    objects = list(scene.objects)
    if template is not None:
        kind = template_kind(template)
    elif kind is None:
        kind = rng.choice([NEGATION, HYBRID, HYBRID])
    if kind not in (NEGATION, HYBRID):
        raise ValueError(f"kind must be '{NEGATION}' or '{HYBRID}', got '{kind}'")
    if not truth and kind == HYBRID and len(objects) < 2:
        if template is not None:
            raise ValueError("A false hybrid caption needs a scene with at least 2 objects")
        kind = NEGATION  # a one-object scene has nothing left to affirm besides the negated object
    num_negated = template_num_negated(template) if template else 2 if truth and rng.random() < two_negated_prob else 1
    if template is None:
        template = rng.choice(templates_of(kind, num_negated))

    rng.shuffle(objects)
    affirmed: list[Mention] = []
    negated: list[Mention] = []
    if truth:
        if kind == HYBRID:
            chosen = objects[: rng.randint(1, len(objects))]
            affirmed = [Mention.of(o, with_colour=rng.random() >= shape_only_prob) for o in chosen]
        while len(negated) < num_negated:
            mention = _sample_absent(scene, rng, shape_only_prob, hard_prob)
            if not any(_overlaps(mention, other) for other in negated):
                negated.append(mention)
    else:
        target, rest = objects[0], objects[1:]
        negated = [Mention.of(target, with_colour=rng.random() >= shape_only_prob)]
        if num_negated == 2:  # the second negated mention is absent: the first alone falsifies
            while len(negated) < 2:
                mention = _sample_absent(scene, rng, shape_only_prob, hard_prob)
                if not _overlaps(mention, negated[0]):
                    negated.append(mention)
        if kind == HYBRID:
            # Affirm other objects, never one the negated mention also names ("a red circle but no circle").
            candidates = [o for o in rest if not negated[0].matches(o)]
            if not candidates:  # e.g. "no circle" in a scene of two circles: name the colour instead
                negated[0] = Mention.of(target)
                candidates = rest
            chosen = candidates[: rng.randint(1, len(candidates))]
            affirmed = [Mention.of(o, with_colour=rng.random() >= shape_only_prob) for o in chosen]
            affirmed = [m if not _overlaps(m, negated[0]) else Mention.of(o) for m, o in zip(affirmed, chosen)]
        rng.shuffle(negated)

    record = make_caption(template, affirmed, negated)
    if caption_is_true(record, scene) != truth:  # a bug, not bad luck
        raise AssertionError(f"Sampled caption '{record['prompt']}' is not {truth} for {scene}")
    return record


__all__ = [
    "AFFIRMATION",
    "CUE_WORDS",
    "HYBRID",
    "NEGATION",
    "TEMPLATES",
    "absent_mentions",
    "absent_shape_mentions",
    "caption_is_true",
    "make_caption",
    "negated_prompt_parts",
    "sample_hard_absent",
    "sample_negated_caption",
    "template_kind",
    "template_num_negated",
    "templates_of",
]
