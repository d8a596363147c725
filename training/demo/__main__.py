"""python -m training.demo --model DIR_OR_HUB_ID [--images DIR | --world_dir DIR] [--port 7860]"""

from __future__ import annotations

import argparse
from pathlib import Path

from transformers import AutoModel, AutoProcessor

from ..sharing.model_paths import check_model_path
from .gallery import folder_gallery, world_gallery
from .search import NegCLIPSearch

WORLD_EXAMPLES = ("a blue square and no red circle", "a green star without a yellow triangle",
                  "a red cross, but not a small purple diamond", "no circles")
PHOTO_EXAMPLES = ("a dog without a leash", "a street with no cars", "a kitchen, but no people",
                  "a man not wearing a hat")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(description="Serve a page that compares CLIP and NegCLIP retrieval for typed queries.")
    parser.add_argument("--model", required=True, help="NegCLIP checkpoint dir or Hub id")
    parser.add_argument("--images", help="a folder of your own images (default: the world's held-out scenes)")
    parser.add_argument("--world_dir", help="main-job world folder (default: 'world' beside a local --model)")
    parser.add_argument("--num_images", type=int, default=200, help="world scenes (or at most this many folder images)")
    parser.add_argument("--top_k", type=int, default=8, help="images shown per model")
    parser.add_argument("--examples", nargs="*", help="example queries to click (default: by gallery)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    try:
        check_model_path(args.model)
    except OSError as error:
        parser.error(str(error))
    if args.num_images < 1 or args.top_k < 1:
        parser.error("--num_images and --top_k must be at least 1")
    if args.images is None and args.world_dir is None:
        args.world_dir = str(Path(args.model).parent / "world")
    return args, parser


def build_search(args: argparse.Namespace) -> NegCLIPSearch:
    model = AutoModel.from_pretrained(args.model, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(args.model, trust_remote_code=True)
    if args.images is not None:
        gallery = folder_gallery(args.images, max_images=args.num_images)
    else:
        gallery = world_gallery(args.world_dir, args.num_images)
    return NegCLIPSearch(model, processor, gallery, top_k=args.top_k)


def main(argv: list[str] | None = None) -> None:
    args, parser = parse_args(argv)
    try:
        search = build_search(args)
    except (OSError, ValueError, TypeError) as error:
        parser.error(str(error))
    from .app import build_demo, launch  # gradio only from here: the optional `[demo]` extra

    examples = args.examples if args.examples is not None else (PHOTO_EXAMPLES if args.images else WORLD_EXAMPLES)
    print(f"[demo] {search.gallery.describe()}")
    launch(build_demo(search, examples, args.model), args.host, args.port)


if __name__ == "__main__":
    main()
