"""Vocabularies for the synthetic negation prompts, split into TRAIN and HELD-OUT parts.

The word lists follow the kinds of things COCO, PASCAL VOC and Visual Genome captions talk about:
objects, clothing, food, people, places, colours and other attributes, and actions. Every noun is
assigned to one split by a stable hash of its text (about one in five is held out), so the held-out
synthetic prompts test whether a tagger generalises to nouns it never saw in training.

The split is closed under containment: a TRAIN entry (noun, place or action) that contains a
HELD-OUT noun as a word sequence ("teddy bear" when "bear" is held out, "riding a horse" when
"horse" is) moves to HELD-OUT, until nothing changes. Nouns that the TRAIN prompt templates spell
out literally (`TEMPLATE_NOUNS`) are pinned to TRAIN. Attributes (colours, materials, states) are
shared by both splits: they are not nouns.

`open_vocabulary()` adds the long tail for training: tens of thousands of whole-word tokens of
CLIP's BPE vocabulary (any noun, verb, name or word piece), minus function words, negation words and
every word of the HELD-OUT vocabulary. A frozen CLIP that never trained on most words gives them
near-random embeddings; slots filled with such words teach a tagger to decide by the words around a
slot (cues, determiners, prepositions), not by the identity of the content word.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

HELDOUT_FRACTION = 0.2

# ---------------------------------------------------------------------------------------------
# Nouns. An entry is "singular" or "singular|plural" (irregular plural) or "singular|-" (mass noun,
# used bare: "sand", "rice").
# ---------------------------------------------------------------------------------------------
ANIMALS = """
dog cat horse sheep|sheep cow bird elephant bear zebra giraffe goat pig chicken duck goose|geese
rabbit squirrel deer|deer fox wolf|wolves lion tiger monkey parrot owl pigeon swan seagull
donkey camel kangaroo penguin turtle frog butterfly|butterflies bee spider crab dolphin
whale fish|fish puppy|puppies kitten lamb pony|ponies mouse|mice hamster lizard snake
""".split()

VEHICLES = """
car bus truck bicycle motorbike motorcycle train airplane helicopter boat sailboat ship canoe
kayak tractor van taxi|taxis ambulance scooter skateboard tram ferry|ferries jeep limousine
minivan pickup|pickups firetruck|firetrucks wheelchair stroller wagon
""".split()

FURNITURE = """
chair sofa couch|couches bed table|tables bench|benches desk stool armchair bookshelf|bookshelves
cabinet dresser wardrobe shelf|shelves ottoman hammock crib cradle
""".split()

HOUSEHOLD = """
lamp clock vase mirror rug curtain pillow blanket towel candle picture|pictures painting
fireplace window door staircase radiator fan basket suitcase backpack handbag umbrella
book|books newspaper magazine envelope box|boxes bucket broom ladder toothbrush|toothbrushes
hairbrush|hairbrushes scissors|scissors teddy_bear plant potted_plant flowerpot sink bathtub toilet
shower_curtain trash_can
""".split()

KITCHENWARE = """
cup mug bowl plate fork knife|knives spoon bottle wine_glass teapot kettle pan pot toaster
microwave oven refrigerator blender cutting_board jar tray napkin thermos|thermoses
""".split()

FOOD = """
apple banana orange_slice pizza|pizzas sandwich|sandwiches hot_dog donut cake carrot broccoli|- bread|-
sausage egg tomato|tomatoes potato|potatoes strawberry|strawberries lemon grape pear peach|peaches
watermelon cookie croissant pancake muffin burger salad cheese|- rice|- pasta|- steak soup|-
cupcake pie pineapple cherry|cherries avocado mushroom pretzel waffle taco onion pepper
""".split()

WEARABLES = """
glasses|glasses sunglasses|sunglasses hat cap helmet scarf|scarves tie jacket coat backpack_strap
umbrella_hat necklace bracelet watch|watches earring mask gloves|gloves boots|boots sneakers|sneakers
apron raincoat hoodie sweater vest uniform beard mustache|mustaches ring belt headphones|headphones
""".split()

ELECTRONICS = """
laptop keyboard computer_mouse|computer_mice remote phone cellphone television monitor camera
tablet printer speaker microphone headset router projector radio|radios
""".split()

SPORTS = """
frisbee|frisbees kite surfboard ski|skis snowboard baseball_bat baseball_glove tennis_racket
soccer_ball basketball football volleyball golf_club hockey_stick sled tent fishing_rod dumbbell
""".split()

OUTDOOR = """
tree flower fence traffic_light stop_sign fire_hydrant parking_meter street_lamp mailbox|mailboxes
bridge tower fountain statue sign billboard flag kite_string lighthouse windmill barn cloud
rock hill river waterfall puddle pole bus_stop crosswalk graffiti|- palm_tree bush|bushes
cactus|cacti sandcastle snowman|snowmen log leaf|leaves
""".split()

PEOPLE = """
man|men woman|women boy girl child|children person|people baby|babies teenager toddler
chef doctor nurse police_officer firefighter soldier farmer student teacher tourist skier
surfer skateboarder cyclist runner player|players musician guitarist waiter waitress|waitresses
businessman|businessmen athlete dancer painter photographer fisherman|fishermen worker
grandmother grandfather couple family|families bride groom clown vendor cowboy
""".split()

# A place is "name:preposition" ("beach:on" -> "on the beach").
PLACES = """
kitchen:in living_room:in bedroom:in bathroom:in office:in classroom:in library|libraries:in
restaurant:in cafe:in bakery|bakeries:in supermarket:in garage:in hallway:in attic:in basement:in
beach:on street:on sidewalk:on highway:on road:on bridge_deck:on rooftop:on balcony|balconies:on
park:in garden:in forest:in field:in meadow:in desert:in jungle:in farm:on vineyard:in
mountain_trail:on ski_slope:on lake_shore:on harbor:in marina:in airport:at train_station:at
parking_lot:in playground:in stadium:in tennis_court:on soccer_field:on zoo:at market:at
city_square:in alley:in campsite:at river_bank:on snowy_field:in hospital_room:in museum:in
church|churches:in subway_station:at gas_station:at backyard:in porch|porches:on pier:on
""".split()

COLORS = """
red blue green yellow black white gray brown pink purple orange golden silver beige navy
turquoise maroon teal
""".split()

# Attributes of objects (colours aside), of places and of people; shared by both splits.
OBJECT_ATTRIBUTES = """
wooden metal plastic old new broken empty full wet dry dirty clean shiny rusty striped spotted
fluffy tall small large tiny huge open closed round square colorful bright dark sliced frozen
cooked ripe leather folded crumpled parked lit
""".split()

PLACE_ATTRIBUTES = "busy crowded quiet sunny empty dark bright small large cozy messy tidy snowy rainy".split()

PERSON_ATTRIBUTES = "young old elderly tall happy tired bearded blond smiling barefoot".split()

# Actions as "ing form|base form". Objects inside actions are nouns too (the split checks them).
ACTIONS = """
smiling|smile laughing|laugh running|run walking|walk sitting|sit standing|stand sleeping|sleep
jumping|jump swimming|swim dancing|dance reading|read eating|eat drinking|drink cooking|cook
talking_on_a_phone|talk_on_a_phone holding_an_umbrella|hold_an_umbrella riding_a_horse|ride_a_horse
riding_a_bicycle|ride_a_bicycle wearing_a_hat|wear_a_hat waving|wave crying|cry singing|sing
playing_guitar|play_guitar playing_tennis|play_tennis flying_a_kite|fly_a_kite
throwing_a_frisbee|throw_a_frisbee surfing|surf skiing|ski skateboarding|skateboard
carrying_a_backpack|carry_a_backpack looking_at_the_camera|look_at_the_camera
typing_on_a_laptop|type_on_a_laptop brushing_teeth|brush_teeth climbing|climb painting|paint
holding_a_cup|hold_a_cup pointing|point kneeling|kneel clapping|clap yawning|yawn
feeding_a_dog|feed_a_dog petting_a_cat|pet_a_cat pushing_a_stroller|push_a_stroller
walking_a_dog|walk_a_dog cutting_a_cake|cut_a_cake taking_a_photo|take_a_photo
hugging|hug whistling|whistle stretching|stretch
""".split()

# Nouns that TRAIN templates write out literally; pinned to TRAIN so no held-out check can fail.
TEMPLATE_NOUNS = frozenset(
    """photo picture image scene view knot notebook jersey rope desk sign wall pan stove road queue
    street number platform noodles nose sky shirt notes monitor soup""".split()
)

# Never open-vocabulary fillers: function words, and words that carry, fake or hedge a negation.
NON_CONTENT_WORDS = frozenset(
    """a an the this that these those some any all every each either neither both few many much more most
    other another such same what which who whom whose where when why how there here it its they them their
    theirs he him his she her hers we us our ours you your yours me my mine one ones and or but nor so yet
    for because as if than then though although while whether unless until since of in on at by to from with
    within without into onto off over under above below behind beside besides between among through across
    along around about against near after before during except excluding instead rather like unlike via per
    is are was were be been being am do does did done doing have has had having can could will would shall
    should may might must not no none nobody nothing nowhere never cannot nope nah non nil zero lack lacks
    lacked lacking missing miss misses missed absent absence free only also just even still already ever
    too very quite hardly barely scarcely seldom rarely anything anyone anybody anywhere something someone
    somebody somewhere everything everyone everybody everywhere yes okay out up down now""".split()
)

_AROUND_WORD = re.compile(r"^[^\w']+|[^\w']+$")


def word_core(word: str) -> str:
    """A word lower-cased, without the punctuation around it, curly apostrophes made straight:
    what `NON_CONTENT_WORDS` and the regex baseline's lexicon are matched against."""
    return _AROUND_WORD.sub("", word.lower()).replace("\u2019", "'")


_IRREGULAR_SUFFIX = re.compile(r"(s|x|z|ch|sh)$")


def pluralize(noun: str) -> str:
    """English plural of a regular noun (the irregular ones are spelled out in the lists)."""
    head, _, last = noun.rpartition(" ")
    if _IRREGULAR_SUFFIX.search(last):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in set("aeiou"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


@dataclass(frozen=True)
class Noun:
    """A countable or mass noun with its plural (`plural == singular` for mass and pluralia tantum)."""

    singular: str
    plural: str
    mass: bool = False

    @classmethod
    def parse(cls, entry: str) -> "Noun":
        singular, _, plural = entry.replace("_", " ").partition("|")
        if plural == "-":
            return cls(singular, singular, mass=True)
        return cls(singular, plural or pluralize(singular))

    @property
    def plural_only(self) -> bool:
        """Pluralia tantum ("glasses", "scissors"): no "a ..." form, plural agreement."""
        return self.singular == self.plural and not self.mass and self.singular.endswith("s")

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.singular,) if self.singular == self.plural else (self.singular, self.plural)


@dataclass(frozen=True)
class Place:
    noun: Noun
    preposition: str


@dataclass(frozen=True)
class Action:
    ing: str
    base: str


@dataclass(frozen=True)
class Vocabulary:
    """All word lists of one split. Object categories keep their names for plausible templates."""

    animals: tuple[Noun, ...]
    vehicles: tuple[Noun, ...]
    furniture: tuple[Noun, ...]
    household: tuple[Noun, ...]
    kitchenware: tuple[Noun, ...]
    food: tuple[Noun, ...]
    wearables: tuple[Noun, ...]
    electronics: tuple[Noun, ...]
    sports: tuple[Noun, ...]
    outdoor: tuple[Noun, ...]
    people: tuple[Noun, ...]
    places: tuple[Place, ...]
    actions: tuple[Action, ...]
    colors: tuple[str, ...]
    object_attributes: tuple[str, ...]
    place_attributes: tuple[str, ...]
    person_attributes: tuple[str, ...]

    @property
    def objects(self) -> tuple[Noun, ...]:
        """Every object noun (not people, not places)."""
        return (
            self.animals + self.vehicles + self.furniture + self.household + self.kitchenware + self.food
            + self.wearables + self.electronics + self.sports + self.outdoor
        )

    @property
    def nouns(self) -> tuple[Noun, ...]:
        """Objects, people and place nouns: what the held-out check is about."""
        return self.objects + self.people + tuple(place.noun for place in self.places)


_NOUN_CATEGORIES = {
    "animals": ANIMALS,
    "vehicles": VEHICLES,
    "furniture": FURNITURE,
    "household": HOUSEHOLD,
    "kitchenware": KITCHENWARE,
    "food": FOOD,
    "wearables": WEARABLES,
    "electronics": ELECTRONICS,
    "sports": SPORTS,
    "outdoor": OUTDOOR,
    "people": PEOPLE,
}


def _is_heldout_by_hash(text: str) -> bool:
    digest = hashlib.md5(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < HELDOUT_FRACTION


def phrase_pattern(phrases) -> re.Pattern:
    """A regex finding any of the phrases as whole words ("bear" in "a teddy bear", not in "bears")."""
    alternatives = "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


@lru_cache(maxsize=None)
def _split_vocabularies() -> dict[str, Vocabulary]:
    categories = {name: [Noun.parse(entry) for entry in entries] for name, entries in _NOUN_CATEGORIES.items()}
    places = [Place(Noun.parse(entry.split(":")[0]), entry.split(":")[1]) for entry in PLACES]
    actions = [Action(*entry.replace("_", " ").split("|")) for entry in ACTIONS]

    # Every item is described by its texts; an item goes to HELD-OUT by hash, then by containment.
    items = [(name, noun, noun.forms) for name, nouns in categories.items() for noun in nouns]
    items += [("places", place, place.noun.forms) for place in places]
    items += [("actions", action, (action.ing, action.base)) for action in actions]
    heldout = {
        id(item) for _, item, texts in items
        if _is_heldout_by_hash(texts[0]) and not any(word in TEMPLATE_NOUNS for word in texts[0].split())
    }
    changed = True
    while changed:
        pattern = phrase_pattern(form for name, item, texts in items if id(item) in heldout and name != "actions" for form in texts)
        changed = False
        for _, item, texts in items:
            if id(item) in heldout:
                continue
            if any(pattern.search(text) for text in texts):
                heldout.add(id(item))
                changed = True

    def pick(name: str, want_heldout: bool) -> tuple:
        return tuple(item for category, item, _ in items if category == name and (id(item) in heldout) == want_heldout)

    return {
        split: Vocabulary(
            **{name: pick(name, split == "heldout") for name in (*_NOUN_CATEGORIES, "places", "actions")},
            colors=tuple(COLORS),
            object_attributes=tuple(OBJECT_ATTRIBUTES),
            place_attributes=tuple(PLACE_ATTRIBUTES),
            person_attributes=tuple(PERSON_ATTRIBUTES),
        )
        for split in ("train", "heldout")
    }


_OPEN_WORD = re.compile(r"[a-z]{3,12}")  # lower-case letters only: no names, numbers or "n't"


@lru_cache(maxsize=None)
def open_vocabulary() -> tuple[str, ...]:
    """Whole-word CLIP BPE tokens of 3 to 12 letters, most frequent first, that are fit as slot fillers.

    Left out: `NON_CONTENT_WORDS`, words with "n't", and every word of a HELD-OUT noun, place or
    action (also when the filler's plural would be one), so no held-out word enters training.
    """
    from .clip_tokenizer import build_clip_vocab_and_merges  # the BPE file; imported here as it is optional

    vocab, _ = build_clip_vocab_and_merges()
    heldout = get_vocabulary("heldout")
    texts = [form for noun in heldout.nouns for form in noun.forms]
    texts += [text for action in heldout.actions for text in (action.ing, action.base)]
    banned = NON_CONTENT_WORDS | {word for text in texts for word in text.split()}
    words = (token[: -len("</w>")] for token in sorted(vocab, key=vocab.get) if token.endswith("</w>"))
    return tuple(
        word for word in words
        if _OPEN_WORD.fullmatch(word) and word not in banned and pluralize(word) not in banned
    )


def get_vocabulary(split: str) -> Vocabulary:
    """The TRAIN (`"train"`) or HELD-OUT (`"heldout"`) vocabulary."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    return _split_vocabularies()[split]


__all__ = [
    "Action", "NON_CONTENT_WORDS", "Noun", "Place", "TEMPLATE_NOUNS", "Vocabulary", "get_vocabulary", "open_vocabulary",
    "phrase_pattern", "pluralize", "word_core",
]
