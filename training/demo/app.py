"""The demo's page (Gradio Blocks): a query box, the split token by token, CLIP's and NegCLIP's top images side by side.

Element ids (`query`, `search`, `split`, `summary`, `clip`, `negclip`) are what the browser test drives.
"""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

from .search import NegCLIPSearch, Ranked, SearchResult

SPAN_COLOURS = {"affirmed": "#4caf50", "cue": "#9e9e9e", "negated": "#e53935"}
# System fonts only: the page must render offline (Gradio's default theme asks Google Fonts).
OFFLINE_THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def summary_markdown(result: SearchResult) -> str:
    if not result.negated:
        return (f"No negated words found: NegCLIP scores **{result.query}** exactly as CLIP does, "
                "so both columns agree.")
    return (f"**Positive prompt:** {result.positive or '(none: a learned null prompt)'}  \n"
            f"**Negated concepts:** {result.negated}  \n**Cues:** {result.cues or '(none)'}")


def _gallery_items(search: NegCLIPSearch, ranked: Sequence[Ranked]) -> list[tuple]:
    return [(search.gallery.images[r.index], f"{r.score:.2f} · {search.gallery.names[r.index]}") for r in ranked]


def run_query(search: NegCLIPSearch, query: str) -> tuple[list, str, list, list]:
    """The page's four outputs for a query; bad input gives its message in the summary, not a traceback."""
    try:
        result = search.search(query)
    except ValueError as error:
        return [], f"**{error}**", [], []
    return (result.spans, summary_markdown(result),
            _gallery_items(search, result.clip), _gallery_items(search, result.negclip))


def build_demo(search: NegCLIPSearch, examples: Sequence[str], model_name: str) -> gr.Blocks:
    with gr.Blocks(title="NegCLIP search", analytics_enabled=False) as demo:
        gr.Markdown(f"# NegCLIP search\nModel `{model_name}` · {search.gallery.describe()}. "
                    "Type a query with a negation; NegCLIP tags each word affirmed, cue or negated, then ranks images "
                    "close to the positive prompt and far from the negated concepts.")
        with gr.Row():
            query = gr.Textbox(label="Query", elem_id="query", scale=5, placeholder=examples[0] if examples else "")
            button = gr.Button("Search", elem_id="search", variant="primary", scale=1)
        split = gr.HighlightedText(label="Split", elem_id="split", color_map=SPAN_COLOURS, show_legend=True)
        summary = gr.Markdown(elem_id="summary")
        with gr.Row():
            clip = gr.Gallery(label="CLIP", elem_id="clip", columns=4, height="auto", object_fit="contain")
            negclip = gr.Gallery(label="NegCLIP", elem_id="negclip", columns=4, height="auto", object_fit="contain")
        if examples:
            gr.Examples(list(examples), inputs=query, label="Examples")
        outputs = [split, summary, clip, negclip]
        for event in (button.click, query.submit):
            event(lambda text: run_query(search, text), inputs=query, outputs=outputs)
    return demo


def launch(demo: gr.Blocks, host: str, port: int, block: bool = True) -> None:
    """Serve the page; `block=False` returns once it is up (for tests and screenshots)."""
    demo.launch(server_name=host, server_port=port, theme=OFFLINE_THEME, prevent_thread_lock=not block, quiet=not block)
