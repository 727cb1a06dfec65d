"""``index.html``: one static page laying out an inference run's previews with their prompts (text to mesh) or
input names (reconstruction: the records under ``objects``, each with a preview of its input views).

Built from the run's summary (the same dict as ``summary.json``). Every link is relative to the output
directory, so the folder can be moved, zipped or served as it is; every prompt is HTML-escaped.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
.cards { display: flex; flex-wrap: wrap; gap: 1em; }
.card { width: 260px; border: 1px solid #ccc; border-radius: 6px; padding: 0.6em; }
.card img { width: 100%; image-rendering: auto; }
.prompt { font-weight: bold; margin: 0.3em 0; }
.meta { font-size: 0.85em; color: #555; }
.empty { color: #a00; }
.filmstrip img { max-width: 100%; }
.filmstrip table { border-collapse: collapse; table-layout: fixed; width: 100%; font-size: 0.8em; }
.filmstrip td { text-align: center; vertical-align: top; padding: 0.2em; }
"""


def _link(path: str) -> str:
    """A relative file path as an attribute value: percent-encoded, then escaped."""
    return html.escape(quote(path), quote=True)


def _card(record: dict) -> str:
    caption = record["prompt"] if "prompt" in record else record["name"]
    prompt = html.escape(caption)
    if record["status"] != "ok":
        return (f'<div class="card"><div class="prompt">{prompt}</div>'
                f'<div class="empty">{html.escape(record["status"])}: no mesh</div></div>')
    image = record.get("turntable") or record.get("preview")
    picture = f'<img src="{_link(image)}" alt="{html.escape(caption, quote=True)}">' if image else ""
    links = [f'<a href="{_link(record["mesh"])}">mesh</a>']
    if record.get("preview"):
        links.append(f'<a href="{_link(record["preview"])}">views</a>')
    if record.get("input_preview"):
        links.append(f'<a href="{_link(record["input_preview"])}">inputs</a>')
    return (f'<div class="card">{picture}<div class="prompt">{prompt}</div>'
            f'<div class="meta">{record["faces"]} faces, {record["vertices"]} vertices &middot; '
            f'{" &middot; ".join(links)}</div></div>')


def _filmstrip(interpolation: dict) -> str:
    cells = []
    for frame in interpolation["frames"]:
        caption = html.escape(frame["label"])
        if frame["status"] == "ok":
            caption = f'<a href="{_link(frame["mesh"])}">{caption}</a>'
        cells.append(f"<td>{caption}</td>")
    picture = (f'<img src="{_link(interpolation["filmstrip"])}" alt="interpolation filmstrip">'
               if interpolation.get("filmstrip") else "")
    prompts = " &rarr; ".join(html.escape(p) for p in interpolation["prompts"])
    return (f'<h2>Interpolation ({html.escape(interpolation["mode"])}, {interpolation["steps"]} steps per pair)</h2>'
            f'<p>{prompts}</p><div class="filmstrip">{picture}<table><tr>{"".join(cells)}</tr></table></div>')


def render_index(summary: dict) -> str:
    """The page's HTML for a run summary (see ``atom.pipelines.inference``)."""
    title = f"atom inference: {html.escape(Path(summary['checkpoint']).name)}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{title}</title>",
        f"<style>{STYLE}</style></head><body>", f"<h1>{title}</h1>",
        f'<p class="meta">checkpoint {html.escape(summary["checkpoint"])} &middot; grid '
        f'{summary["grid_resolution"]} &middot; {html.escape(summary["export"]["format"])} '
        f'({html.escape(summary["export"]["texture"])} color) &middot; {html.escape(summary["created"])}</p>',
    ]
    records = summary.get("prompts") or summary.get("objects") or []
    if records:
        parts.append('<div class="cards">' + "".join(_card(r) for r in records) + "</div>")
    if summary.get("interpolation"):
        parts.append(_filmstrip(summary["interpolation"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_index(out_dir: Path, summary: dict) -> Path:
    """Write ``out_dir/index.html``; returns its path."""
    path = Path(out_dir) / "index.html"
    path.write_text(render_index(summary), encoding="utf-8")
    return path
