"""A Gradio page to try a NegCLIP checkpoint: type a query, see its split and what CLIP and NegCLIP retrieve.

    pip install -e ".[demo]"
    python -m training.demo --model outputs/quickstart/negclip               # the world's held-out images
    python -m training.demo --model my/negclip --images ~/Pictures           # a folder of your own

`gallery` reads the images, `search` embeds them once and ranks them with both models, `app` lays out the page.
Only `app` imports gradio.
"""
