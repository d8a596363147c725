"""A tiny synthetic image world for training a small CLIP offline and for benchmarking negation.

In the spirit of CLEVR (Johnson et al., 2017), but 2D and small: each scene holds 1 to 3 flat
objects on a plain grey background; an object is a (shape, colour, size) triple placed so that no
two bounding boxes touch, so every object is fully visible. Objects sit on a 6 x 6 grid of cells:
a small one fills one cell, a large one 2 x 2 cells. At the default 48 px a cell is 8 px, so the
base CLIP's ViT patches (16 px: 2 x 2 cells) see objects at a few fixed offsets and a CLIP trained
from scratch on a CPU learns shape in minutes (with free placement it learned colour at once but
shape hardly at all); a real CLIP needs no such help and scores these images like any other. The
objects of one scene are distinct (shape, colour) pairs. Everything is deterministic from a seed:
scene `i` of seed `s` depends on `(s, i)` only, so the first `n` scenes of a seed are the same
whatever the total.

This module holds the scenes, their rendering, the `Mention` of an object in a caption ("a red
circle", "a square") with its truth rule, and the affirmative captions used for pretraining.
Negated captions live in `negation_captions.py`, benchmark items in `negation_benchmark_items.py`.

Truth of a mention: `Mention(shape, colour=None, size=None)` matches an object when every field it
names is equal (shape always; colour and size only when given). An affirmative caption is true for
a scene when its mentions can be matched to *distinct* objects.
"""

from __future__ import annotations

import io
import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "diamond")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (40, 80, 230),
    "yellow": (245, 220, 30),
    "purple": (150, 50, 200),
    "orange": (255, 140, 0),
}
SIZES: tuple[str, ...] = ("small", "large")
BACKGROUND: tuple[int, int, int] = (128, 128, 128)
DEFAULT_IMAGE_SIZE = 48
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 64
DEFAULT_TRAIN_SEED = 0
DEFAULT_EVAL_SEED = 1

MAX_OBJECTS = 3  # objects per scene, at most
GRID_CELLS = 6  # cells per image side; objects are aligned to them
# Half the side of an object's bounding box, as a fraction of the image side: 1 or 2 cells wide.
_HALF_EXTENT = {"small": 0.5 / GRID_CELLS, "large": 1.0 / GRID_CELLS}
_SUPERSAMPLE = 4  # draw at 4x and downsample with a box filter: cheap anti-aliasing
_PLACEMENT_TRIES = 50


@dataclass(frozen=True)
class ShapeObject:
    """One object of a scene; `x`, `y` are its centre as fractions of the image side (0..1)."""

    shape: str
    colour: str
    size: str
    x: float
    y: float

    @property
    def half_extent(self) -> float:
        return _HALF_EXTENT[self.size]

    def to_dict(self) -> dict:
        return {"shape": self.shape, "colour": self.colour, "size": self.size, "x": self.x, "y": self.y}


@dataclass(frozen=True)
class Scene:
    """A scene: its objects, in drawing order (they never overlap, so the order does not show)."""

    objects: tuple[ShapeObject, ...]

    def to_dicts(self) -> list[dict]:
        return [obj.to_dict() for obj in self.objects]

    @classmethod
    def from_dicts(cls, objects: Iterable[dict]) -> Scene:
        """Inverse of `to_dicts`; also reads a dataset row's `objects` column."""
        return cls(
            tuple(ShapeObject(o["shape"], o["colour"], o["size"], float(o["x"]), float(o["y"])) for o in objects)
        )


@dataclass(frozen=True)
class Mention:
    """An object as a caption names it: "red circle" (colour + shape), "circle", "small red circle"."""

    shape: str
    colour: str | None = None
    size: str | None = None

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"Unknown shape '{self.shape}', expected one of {SHAPES}")
        if self.colour is not None and self.colour not in COLOURS:
            raise ValueError(f"Unknown colour '{self.colour}', expected one of {tuple(COLOURS)}")
        if self.size is not None and self.size not in SIZES:
            raise ValueError(f"Unknown size '{self.size}', expected one of {SIZES}")

    def words(self) -> list[str]:
        return [w for w in (self.size, self.colour, self.shape) if w is not None]

    @property
    def phrase(self) -> str:
        return " ".join(self.words())

    def matches(self, obj: ShapeObject) -> bool:
        return (
            obj.shape == self.shape
            and (self.colour is None or obj.colour == self.colour)
            and (self.size is None or obj.size == self.size)
        )

    def to_dict(self) -> dict:
        return {"shape": self.shape, "colour": self.colour, "size": self.size}

    @classmethod
    def from_dict(cls, mention: dict) -> Mention:
        return cls(mention["shape"], mention.get("colour"), mention.get("size"))

    @classmethod
    def of(cls, obj: ShapeObject, with_colour: bool = True, with_size: bool = False) -> Mention:
        return cls(obj.shape, obj.colour if with_colour else None, obj.size if with_size else None)


def mentions_hold(affirmed: Sequence[Mention], negated: Sequence[Mention], scene: Scene) -> bool:
    """True iff the affirmed mentions match distinct objects and no object matches a negated one."""
    objects = scene.objects
    if any(m.matches(obj) for m in negated for obj in objects):
        return False
    if len(affirmed) > len(objects):
        return False
    if len(affirmed) == 1:  # the common case, without building permutations
        return any(affirmed[0].matches(obj) for obj in objects)
    return any(
        all(m.matches(obj) for m, obj in zip(affirmed, chosen))
        for chosen in itertools.permutations(objects, len(affirmed))
    )


# ---------------------------------------------------------------------------------------------
# Sampling and rendering
# ---------------------------------------------------------------------------------------------


def _boxes_apart(a: ShapeObject, b: ShapeObject) -> bool:
    """At least one free cell between the two bounding boxes, in x or in y."""
    gap = a.half_extent + b.half_extent + 1.0 / GRID_CELLS - 1e-9
    return abs(a.x - b.x) >= gap or abs(a.y - b.y) >= gap


def _grid_position(rng: random.Random, size: str) -> tuple[float, float]:
    """A small object's centre is a cell's centre; a large one's is an inner grid corner."""
    if size == "small":
        return ((rng.randrange(GRID_CELLS) + 0.5) / GRID_CELLS, (rng.randrange(GRID_CELLS) + 0.5) / GRID_CELLS)
    return (rng.randrange(1, GRID_CELLS) / GRID_CELLS, rng.randrange(1, GRID_CELLS) / GRID_CELLS)


def sample_scene(
    rng: random.Random,
    min_objects: int = 1,
    max_objects: int = MAX_OBJECTS,
    shapes: Sequence[str] = SHAPES,
    colours: Sequence[str] = tuple(COLOURS),
) -> Scene:
    """Draw a scene: `min_objects..max_objects` objects with distinct (shape, colour) pairs, each
    size equally likely, placed at random grid positions with a free cell between any two."""
    if not 1 <= min_objects <= max_objects <= MAX_OBJECTS:
        raise ValueError(f"Need 1 <= min_objects <= max_objects <= {MAX_OBJECTS}, got {min_objects}, {max_objects}")
    num_objects = rng.randint(min_objects, max_objects)
    pairs = rng.sample([(s, c) for s in shapes for c in colours], num_objects)
    sizes = [rng.choice(SIZES) for _ in pairs]
    while True:  # restart the whole placement when one object finds no room (rare)
        placed: list[ShapeObject] = []
        for (shape, colour), size in zip(pairs, sizes):
            for _ in range(_PLACEMENT_TRIES):
                obj = ShapeObject(shape, colour, size, *_grid_position(rng, size))
                if all(_boxes_apart(obj, other) for other in placed):
                    placed.append(obj)
                    break
            else:
                break
        if len(placed) == num_objects:
            return Scene(tuple(placed))


def sample_scenes(num_scenes: int, seed: int, min_objects: int = 1, max_objects: int = MAX_OBJECTS) -> list[Scene]:
    """Scenes `0..num_scenes-1` of `seed`; scene `i` depends only on `(seed, i)`."""
    return [
        sample_scene(random.Random(f"shapes-world:{seed}:{i}"), min_objects=min_objects, max_objects=max_objects)
        for i in range(num_scenes)
    ]


def _shape_polygon(shape: str, cx: float, cy: float, h: float) -> list[tuple[float, float]] | None:
    """Vertices of `shape` centred at (cx, cy) within a box of half-side `h` (None for a circle)."""
    if shape == "square":
        s = 0.85 * h  # a full-box square looks much bigger than the other shapes
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        return [(cx, cy - h), (cx + h, cy + 0.9 * h), (cx - h, cy + 0.9 * h)]
    if shape == "diamond":
        return [(cx, cy - h), (cx + 0.8 * h, cy), (cx, cy + h), (cx - 0.8 * h, cy)]
    if shape == "star":
        # Five points, a fat inner radius so that the star stays a star at 10 px.
        cy += 0.1 * h  # centre the star vertically: its points reach 1.0 h up but only 0.81 h down
        return [
            (cx + r * math.sin(k * math.pi / 5), cy - r * math.cos(k * math.pi / 5))
            for k, r in zip(range(10), itertools.cycle((h, 0.45 * h)))
        ]
    if shape == "cross":
        a = 0.32 * h  # half the arm width
        return [
            (cx - a, cy - h), (cx + a, cy - h), (cx + a, cy - a), (cx + h, cy - a), (cx + h, cy + a), (cx + a, cy + a),
            (cx + a, cy + h), (cx - a, cy + h), (cx - a, cy + a), (cx - h, cy + a), (cx - h, cy - a), (cx - a, cy - a),
        ]  # fmt: skip
    if shape == "circle":
        return None
    raise ValueError(f"Unknown shape '{shape}'")


def world_image_size(model_image_size: int) -> int:
    """The side to draw scenes at for a CLIP that reads `model_image_size` px: that side where the world can draw
    it (32..64), else the world's default, which the CLIP's processor resizes (a real CLIP reads 224 px)."""
    return model_image_size if MIN_IMAGE_SIZE <= model_image_size <= MAX_IMAGE_SIZE else DEFAULT_IMAGE_SIZE


def render_scene(scene: Scene, image_size: int = DEFAULT_IMAGE_SIZE) -> Image.Image:
    """Draw `scene` as an RGB image of `image_size` x `image_size` pixels (32..64)."""
    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise ValueError(f"image_size must be in {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}, got {image_size}")
    side = image_size * _SUPERSAMPLE
    canvas = Image.new("RGB", (side, side), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        cx, cy, h = obj.x * side, obj.y * side, obj.half_extent * side
        fill = COLOURS[obj.colour]
        polygon = _shape_polygon(obj.shape, cx, cy, h)
        if polygon is None:
            draw.ellipse((cx - h, cy - h, cx + h, cy + h), fill=fill)
        else:
            draw.polygon(polygon, fill=fill)
    return canvas.resize((image_size, image_size), Image.Resampling.BOX)


# ---------------------------------------------------------------------------------------------
# Affirmative captions
# ---------------------------------------------------------------------------------------------

_AFFIRMATIVE_TEMPLATES: tuple[str, ...] = (
    "{}",
    "a picture of {}",
    "a photo of {}",
    "an image with {}",
    "a scene with {}",
    "there is {}",
)


def with_article(phrase: str) -> str:
    """'red circle' -> 'a red circle', 'orange star' -> 'an orange star'."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def join_list(items: Sequence[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def affirmative_mentions(
    scene: Scene, rng: random.Random, size_prob: float = 0.25, shape_only_prob: float = 0.1
) -> list[Mention]:
    """Mentions of every object, in shuffled order: with probability `size_prob` all name sizes
    ("small red circle"); each names its shape only with probability `shape_only_prob` ("circle")."""
    objects = list(scene.objects)
    rng.shuffle(objects)
    with_size = rng.random() < size_prob
    return [Mention.of(obj, with_colour=rng.random() >= shape_only_prob, with_size=with_size) for obj in objects]


def caption_of_mentions(mentions: Sequence[Mention], rng: random.Random) -> str:
    """An affirmative caption naming `mentions` in order, in one of a few templates."""
    return rng.choice(_AFFIRMATIVE_TEMPLATES).format(join_list([with_article(m.phrase) for m in mentions]))


def affirmative_caption(scene: Scene, rng: random.Random, size_prob: float = 0.25, shape_only_prob: float = 0.1) -> str:
    """A true affirmative caption naming every object (`affirmative_mentions`)."""
    return caption_of_mentions(affirmative_mentions(scene, rng, size_prob, shape_only_prob), rng)


def caption_words(caption: str) -> tuple[list[str], list[int]]:
    """Words (split on whitespace) and word labels of an affirmative caption: all 0 (affirmed).

    Negated captions carry their own words and labels (`negation_captions.make_caption`).
    """
    words = caption.split()
    return words, [0] * len(words)


# ---------------------------------------------------------------------------------------------
# Data sets
# ---------------------------------------------------------------------------------------------


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def world_features():
    """The `datasets.Features` of `build_world_dataset`."""
    from datasets import Features, List, Value
    from datasets import Image as ImageFeature

    text, number = Value("string"), Value("float64")
    obj = {"shape": text, "colour": text, "size": text, "x": number, "y": number}
    return Features({"image": ImageFeature(), "objects": List(obj), "caption": Value("string")})


def build_world_dataset(
    num_scenes: int, seed: int, image_size: int = DEFAULT_IMAGE_SIZE, max_objects: int = MAX_OBJECTS
):
    """A `datasets.Dataset` of `num_scenes` rendered scenes with one affirmative caption each.

    Columns: `image` (PIL image, RGB, `image_size` square), `objects` (list of {"shape", "colour",
    "size", "x", "y"}; `Scene.from_dicts` rebuilds the scene) and `caption`. Use different seeds
    for the training and held-out sets (`DEFAULT_TRAIN_SEED`, `DEFAULT_EVAL_SEED`).
    """
    from datasets import Dataset

    scenes = sample_scenes(num_scenes, seed, max_objects=max_objects)
    caption_rng = random.Random(f"shapes-world-captions:{seed}")
    columns = {
        "image": [{"bytes": _png_bytes(render_scene(scene, image_size)), "path": None} for scene in scenes],
        "objects": [scene.to_dicts() for scene in scenes],
        "caption": [affirmative_caption(scene, caption_rng) for scene in scenes],
    }
    return Dataset.from_dict(columns, features=world_features())


def scenes_from_dataset(dataset) -> list[Scene]:
    """The scenes of a `build_world_dataset` data set, in row order (images are not decoded)."""
    return [Scene.from_dicts(objects) for objects in dataset["objects"]]


__all__ = [
    "BACKGROUND",
    "COLOURS",
    "DEFAULT_EVAL_SEED",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_TRAIN_SEED",
    "GRID_CELLS",
    "MAX_OBJECTS",
    "SHAPES",
    "SIZES",
    "Mention",
    "Scene",
    "ShapeObject",
    "affirmative_caption",
    "affirmative_mentions",
    "caption_of_mentions",
    "build_world_dataset",
    "caption_words",
    "join_list",
    "mentions_hold",
    "render_scene",
    "sample_scene",
    "sample_scenes",
    "scenes_from_dataset",
    "with_article",
    "world_features",
    "world_image_size",
]
