"""The images a demo searches: the shapes world's held-out scenes, or a folder of the user's own images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..world.shapes_world import scenes_from_dataset

THUMBNAIL_SIDE = 512  # images are kept at most this size: enough for the page and for CLIP's 224 px input


@dataclass
class Gallery:
    """Images with a name each (a file name, or the objects of a world scene) and the files that were skipped."""

    images: list[Image.Image]
    names: list[str]
    source: str
    skipped: list[str] = field(default_factory=list)  # "name (why)" for each file that could not be read

    def describe(self) -> str:
        text = f"{len(self.images)} images from {self.source}"
        if self.skipped:
            shown = ", ".join(self.skipped[:5]) + (", ..." if len(self.skipped) > 5 else "")
            text += f"; {len(self.skipped)} files skipped as unreadable: {shown}"
        return text


def folder_gallery(folder: str | Path, max_images: int | None = None) -> Gallery:
    """Every image file under `folder` (recursively, in path order); files PIL cannot read are skipped and named."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"'{folder}' is not a folder: --images needs a folder of images")
    images, names, skipped = [], [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if max_images is not None and len(images) >= max_images:
            break
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as error:
            skipped.append(f"{path.relative_to(folder)} ({type(error).__name__})")
            continue
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        images.append(image)
        names.append(str(path.relative_to(folder)))
    if not images:
        raise ValueError(f"'{folder}' holds no readable images ({len(skipped)} files skipped as unreadable)")
    return Gallery(images, names, f"'{folder}'", skipped)


def scene_name(scene) -> str:
    """What a world scene shows, as a caption would say it: "small red circle, large blue square"."""
    return ", ".join(f"{obj.size} {obj.colour} {obj.shape}" for obj in scene.objects)


def world_gallery(world_dir: str | Path, num_images: int) -> Gallery:
    """The first `num_images` held-out scenes of a main-job world folder (its `eval` dataset)."""
    from datasets import load_from_disk

    eval_dir = Path(world_dir, "eval")
    if not eval_dir.is_dir():
        raise FileNotFoundError(f"'{eval_dir}' does not exist: --world_dir needs the main job's world folder")
    if num_images < 1:
        raise ValueError(f"--num_images must be at least 1, got {num_images}")
    dataset = load_from_disk(str(eval_dir))
    dataset = dataset.select(range(min(num_images, len(dataset))))
    images = [image.convert("RGB") for image in dataset["image"]]
    names = [scene_name(scene) for scene in scenes_from_dataset(dataset)]
    return Gallery(images, names, f"the world's held-out scenes ('{eval_dir}')")
