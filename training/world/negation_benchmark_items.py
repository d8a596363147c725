"""Negation benchmark items over held-out shapes-world scenes (pure logic: no images, no model).

Every item refers to images by their index in the `scenes` list it was built from (the row order
of `build_world_dataset(n, DEFAULT_EVAL_SEED)`), and every caption's truth comes from
`negation_captions.caption_is_true`, which the builders check. All builders are deterministic
from `seed`. The item kinds follow:

- NegBench (Alhamoud et al., "Vision-Language Models Do Not Understand Negation", CVPR 2025):
  multiple-choice questions whose wrong options reuse the right option's words (`build_mcq_items`)
  and retrieval with negated queries (`build_negated_retrieval_items`);
- Omni-NegCLIP's split of negation into presence-based (the negated object is in the image, so
  the negated caption is false) and absence-based (it is not, so the caption is true)
  (`build_presence_absence_items`);
- object presence: how well the similarity to "a red circle" tells a present object from an absent
  look-alike (`build_object_presence_items`), the bound on every negation score built on it;
- plain CLIP checks: affirmative text-to-image retrieval (`build_affirmative_retrieval_items`) and
  zero-shot classification of one-object images (`build_zero_shot_items`).

Decision rule for every choice item: score each caption against the image (cosine similarity, or
NegCLIP's negation-aware score), the prediction is the caption with the strictly highest score, and
a tie counts as wrong.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .negation_captions import (
    AFFIRMATION,
    HYBRID,
    NEGATION,
    absent_mentions,
    caption_is_true,
    make_caption,
    sample_hard_absent,
    sample_negated_caption,
    templates_of,
)
from .shapes_world import COLOURS, SHAPES, Mention, Scene, mentions_hold, with_article

MCQ_TYPES: tuple[str, ...] = (AFFIRMATION, NEGATION, HYBRID)

# One phrasing per MCQ item, shared by its four options so that they differ only in content:
# (affirmation, negation, hybrid) template names.
MCQ_PHRASINGS: tuple[tuple[str, str, str], ...] = (
    ("aff_list", "neg_no", "hyb_but_no"),  # "a red circle" / "no blue square" / "a red circle but no blue square"
    ("aff_list", "neg_not", "hyb_but_not"),  # ... / "not a blue square" / "a red circle but not a blue square"
    ("aff_includes", "neg_does_not_include", "hyb_includes_but_not"),  # NegBench's own templates
    ("aff_picture", "neg_does_not_contain", "hyb_contains_not"),
)


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"negation-benchmark:{name}:{seed}")


def _mentions(record: dict, key: str) -> list[Mention]:
    return [Mention.from_dict(m) for m in record[key]]


def _relevant(record: dict, scenes: Sequence[Scene]) -> list[int]:
    """Indices of the scenes `record` is true for (`caption_is_true`, with the mentions parsed once)."""
    affirmed, negated = _mentions(record, "affirmed"), _mentions(record, "negated")
    return [i for i, scene in enumerate(scenes) if mentions_hold(affirmed, negated, scene)]


# ---------------------------------------------------------------------------------------------
# Multiple choice (NegBench)
# ---------------------------------------------------------------------------------------------


def mcq_options(
    scene: Scene, question_type: str, rng: random.Random, phrasings: Sequence[tuple[str, str, str]] = MCQ_PHRASINGS
) -> list[tuple[str, dict]]:
    """The four (option kind, caption record) of one NegBench-style question about `scene`, shuffled,
    exactly one of them true, in one (affirmation, negation, hybrid) template triple of `phrasings`.

    With X a present object and N an absent one (a "hard" absent: when possible the colour of one
    present object with the shape of another, else sharing its shape or colour), as in NegBench:
        affirmation  correct "a X and a Y" (up to two present objects) or "a X"
        negation     correct "no N"
        hybrid       correct "a X but no N"
    and the same three wrong options for every type:
        swap            "a N but no X"  (the hybrid's words, roles swapped: false, N is absent)
        affirm_absent   "a N"           (false, N is absent)
        negate_present  "no X"          (false, X is present)
    """
    aff_t, neg_t, hyb_t = rng.choice(phrasings)
    objects = list(scene.objects)
    rng.shuffle(objects)
    x, n = Mention.of(objects[0]), sample_hard_absent(scene, rng)
    if question_type == AFFIRMATION:
        correct = make_caption(aff_t, [Mention.of(o) for o in objects[:2]])
    elif question_type == NEGATION:
        correct = make_caption(neg_t, negated=[n])
    elif question_type == HYBRID:
        correct = make_caption(hyb_t, [x], [n])
    else:
        raise ValueError(f"Unknown MCQ type '{question_type}', expected one of {MCQ_TYPES}")
    options = [
        ("correct", correct),
        ("swap", make_caption(hyb_t, [n], [x])),
        ("affirm_absent", make_caption(aff_t, [n])),
        ("negate_present", make_caption(neg_t, negated=[x])),
    ]
    rng.shuffle(options)
    if sum(caption_is_true(record, scene) for _, record in options) != 1:
        raise AssertionError(f"MCQ options {[r['prompt'] for _, r in options]} for {scene} are not one true, three false")
    return options


def build_mcq_items(scenes: Sequence[Scene], seed: int, types: Sequence[str] = MCQ_TYPES) -> list[dict]:
    """One four-option question per scene (`mcq_options`), exactly one option true; the types cycle over `types`.

    Returns dicts: image_index, type, captions (4 prompts, shuffled), correct_index, option_kinds
    ("correct" or the wrong option's name, per caption) and records (the caption records).
    """
    rng = _rng(seed, "mcq")
    items = []
    for image_index, scene in enumerate(scenes):
        question_type = types[image_index % len(types)]
        options = mcq_options(scene, question_type, rng)
        items.append(
            {
                "image_index": image_index,
                "type": question_type,
                "captions": [record["prompt"] for _, record in options],
                "correct_index": [kind for kind, _ in options].index("correct"),
                "option_kinds": [kind for kind, _ in options],
                "records": [record for _, record in options],
            }
        )
    return items


# ---------------------------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------------------------


def build_negated_retrieval_items(
    scenes: Sequence[Scene],
    seed: int,
    num_queries: int = 500,
    negation_only_prob: float = 0.1,
    min_hard_negatives: int = 1,
    max_attempts_per_query: int = 20,
) -> list[dict]:
    """Text-to-image queries with negation, each with every image it is true for.

    A query is a true hybrid caption of a random scene ("a scene with a circle but no red square",
    "a red circle without a blue square", ...; with probability `negation_only_prob` a negation-only
    one, "no blue square"), one negated object. Every query has at least one relevant image (its
    source scene) and at least `min_hard_negatives` hard negatives (below): a query whose affirmed
    part alone already ranks the images right tests nothing about negation. Prompts are distinct;
    sampling stops after `max_attempts_per_query * num_queries` tries, so there may be fewer.

    Returns dicts: query (prompt), record, source_index, relevant (sorted image indices where the
    query is true) and hard_negatives (images where the affirmed part holds but the negated object
    is present: the ones a model blind to negation ranks high; for a negation-only query, every
    image holding the negated object).
    """
    rng = _rng(seed, "negated-retrieval")
    items, seen = [], set()
    for _ in range(max_attempts_per_query * num_queries):
        if len(items) == num_queries:
            break
        source_index = rng.randrange(len(scenes))
        kind = NEGATION if rng.random() < negation_only_prob else HYBRID
        template = rng.choice(templates_of(kind, num_negated=1))
        record = sample_negated_caption(scenes[source_index], rng, truth=True, template=template)
        if record["prompt"] in seen:
            continue
        seen.add(record["prompt"])
        relevant = _relevant(record, scenes)
        affirmed_part = _relevant({"affirmed": record["affirmed"], "negated": []}, scenes)
        hard_negatives = sorted(set(affirmed_part) - set(relevant))
        if len(hard_negatives) < min_hard_negatives:
            continue
        if not relevant:  # cannot happen: the source scene is relevant
            raise AssertionError(f"Query '{record['prompt']}' is true for no image")
        items.append(
            {
                "query": record["prompt"],
                "record": record,
                "source_index": source_index,
                "relevant": relevant,
                "hard_negatives": hard_negatives,
            }
        )
    return items


def build_affirmative_retrieval_items(scenes: Sequence[Scene], seed: int, num_queries: int | None = None) -> list[dict]:
    """Text-to-image queries naming every object of a scene ("a red circle and a blue square").

    One query per scene (the first `num_queries` scenes if given) in one of the affirmation
    templates, objects in random order; duplicate prompts dropped. `relevant` lists every image the
    caption is true for (scenes holding those objects, possibly among others), so use R@k as "a
    relevant image is in the top k".

    Returns dicts: query, record, source_index, relevant.
    """
    rng = _rng(seed, "affirmative-retrieval")
    items, seen = [], set()
    for source_index, scene in enumerate(scenes[:num_queries] if num_queries is not None else scenes):
        objects = list(scene.objects)
        rng.shuffle(objects)
        record = make_caption(rng.choice(templates_of(AFFIRMATION)), [Mention.of(o) for o in objects])
        if record["prompt"] in seen:
            continue
        seen.add(record["prompt"])
        relevant = _relevant(record, scenes)
        items.append({"query": record["prompt"], "record": record, "source_index": source_index, "relevant": relevant})
    return items


# ---------------------------------------------------------------------------------------------
# Presence- vs absence-based negation (Omni-NegCLIP)
# ---------------------------------------------------------------------------------------------


def presence_absence_pairs(
    scene: Scene, rng: random.Random, phrasings: Sequence[tuple[str, str, str]] = MCQ_PHRASINGS
) -> list[tuple[str, list[dict]]]:
    """Omni-NegCLIP's two kinds of negation for `scene`: [("presence", pair), ("absence", pair)].

    Y is the object the negation is about and X a present object other than Y, the affirmed context
    (none in one-object scenes); a pair is always
        negated caption  "a X but no Y"   (one-object scenes: "no Y")
        contrast caption "a X and a Y"    (one-object scenes: "a Y")
    in one template triple of `phrasings`, so both captions use the same words apart from the negation.
    presence: Y is present, so the contrast is true and the negated caption false;
    absence:  Y is absent (a hard absent: the colour of one present object with the shape of
              another, or sharing a shape or a colour), so the negated caption is true and the
              contrast false.
    """
    objects = list(scene.objects)
    rng.shuffle(objects)
    aff_t, neg_t, hyb_t = rng.choice(phrasings)
    context = [Mention.of(objects[1])] if len(objects) > 1 else []
    pairs = []
    for kind, y in (("presence", Mention.of(objects[0])), ("absence", sample_hard_absent(scene, rng))):
        if context:
            pair = [make_caption(hyb_t, context, [y]), make_caption(aff_t, context + [y])]
        else:
            pair = [make_caption(neg_t, negated=[y]), make_caption(aff_t, [y])]
        truths = [caption_is_true(record, scene) for record in pair]
        if truths != [kind == "absence", kind == "presence"]:
            raise AssertionError(f"{kind} pair {[r['prompt'] for r in pair]} for {scene} has truths {truths}")
        pairs.append((kind, pair))
    return pairs


def build_presence_absence_items(scenes: Sequence[Scene], seed: int) -> list[dict]:
    """Two-caption choices that isolate the two kinds of negation (`presence_absence_pairs`): one
    item of each kind per scene, captions [negated, contrast]; presence items have correct = 1
    (the contrast), absence items correct = 0 (the negated caption).

    Returns dicts: image_index, kind ("presence" | "absence"), captions ([negated, contrast]),
    correct_index, records.
    """
    rng = _rng(seed, "presence-absence")
    items = []
    for image_index, scene in enumerate(scenes):
        for kind, pair in presence_absence_pairs(scene, rng):
            items.append(
                {
                    "image_index": image_index,
                    "kind": kind,
                    "captions": [record["prompt"] for record in pair],
                    "correct_index": 0 if kind == "absence" else 1,
                    "records": pair,
                }
            )
    return items


# ---------------------------------------------------------------------------------------------
# Object presence (what every negation score rests on)
# ---------------------------------------------------------------------------------------------


def build_object_presence_items(scenes: Sequence[Scene]) -> list[dict]:
    """Per image, "a <colour> <shape>" for each object it shows and for each absent look-alike.

    A look-alike shares the colour, the shape or both (crosswise) with present objects
    (`absent_mentions(scene, "hard")`). Negation needs the similarity to such a prompt to tell
    present from absent: "no blue square" is only as right as the model's sense that no blue
    square is there. Returns dicts: image_index, prompt ("a red circle"), concept ("red circle", what the split
    of "no red circle" leaves as its negated part), present (bool).
    """
    items = []
    for image_index, scene in enumerate(scenes):
        present = {Mention.of(obj) for obj in scene.objects}
        for mention, is_present in [(m, True) for m in sorted(present, key=str)] + [
            (m, False) for m in absent_mentions(scene, "hard")
        ]:
            items.append({"image_index": image_index, "prompt": with_article(mention.phrase), "concept": mention.phrase,
                          "present": is_present})
    return items


# ---------------------------------------------------------------------------------------------
# Zero-shot classification
# ---------------------------------------------------------------------------------------------


def build_zero_shot_items(
    scenes: Sequence[Scene], attribute: str = "shape_colour", template: str = "a photo of {}"
) -> dict:
    """Zero-shot classification of the object in one-object images.

    attribute: "shape_colour" (36 classes, "a photo of a red circle"), "shape" ("a photo of a
    circle") or "colour" ("a photo of a red shape"). `template` gets the class phrase with its
    article. Returns {"class_names", "prompts", "items": [{"image_index", "label"}]}, where label
    indexes `class_names`/`prompts`.
    """
    if attribute == "shape_colour":
        class_names = [f"{c} {s}" for s in SHAPES for c in COLOURS]
    elif attribute == "shape":
        class_names = list(SHAPES)
    elif attribute == "colour":
        class_names = [f"{c} shape" for c in COLOURS]
    else:
        raise ValueError(f"attribute must be 'shape_colour', 'shape' or 'colour', got '{attribute}'")

    def class_of(obj) -> str:
        names = {"shape_colour": f"{obj.colour} {obj.shape}", "shape": obj.shape, "colour": f"{obj.colour} shape"}
        return names[attribute]

    items = [
        {"image_index": i, "label": class_names.index(class_of(scene.objects[0]))}
        for i, scene in enumerate(scenes)
        if len(scene.objects) == 1
    ]
    prompts = [template.format(with_article(c)) for c in class_names]
    return {"class_names": class_names, "prompts": prompts, "items": items}


__all__ = [
    "MCQ_PHRASINGS",
    "MCQ_TYPES",
    "build_affirmative_retrieval_items",
    "build_mcq_items",
    "build_negated_retrieval_items",
    "build_object_presence_items",
    "build_presence_absence_items",
    "build_zero_shot_items",
    "mcq_options",
    "presence_absence_pairs",
]
