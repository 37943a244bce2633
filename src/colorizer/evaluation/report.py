"""The evaluation report: a Markdown table, report.json, and an HTML page with the image
grid (colorizer.grids.image_grid: a row per photo; the gray input, each model, the truth)."""
import html
import json
import os

from ..files import atomic_write, atomic_write_text
from ..grids import image_grid
from .run import GRAY

INPUT_LABEL = "input (gray)"  # the gray baseline's column: what the models are given


def markdown_table(rows):
    """The rows as a Markdown table (FD-Lite0 "-" where it was not computed)."""
    head = "| model | PSNR (dB) ↑ | SSIM ↑ | CIEDE2000 ↓ | CF | CF truth | abs dCF ↓ | per-photo abs dCF ↓ | FD-Lite0 ↓ |\n"
    head += "|---|---|---|---|---|---|---|---|---|\n"
    lines = []
    for r in rows:
        fd = f"{r['fd_lite0']:.2f}" if "fd_lite0" in r else "-"
        lines.append(f"| {r['model']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['ciede2000']:.2f} | {r['cf']:.1f} | "
                     f"{r['cf_true']:.1f} | {r['dcf']:.1f} | {r['photo_dcf']:.1f} | {fd} |")
    return head + "\n".join(lines) + "\n"


def grid_columns(rows, grids):
    """(label, images) for image_grid: each row's photos in row order (the gray baseline
    labelled as the input), then the truth."""
    names = [r["model"] for r in rows if r["model"] in grids] + ["truth"]
    return [(INPUT_LABEL if n == GRAY else n, grids[n]) for n in names if n in grids]


def grid_image(rows, grids, height=128, max_rows=16):
    """The report's image grid (a PIL image)."""
    return image_grid(grid_columns(rows, grids), height=height, max_rows=max_rows)


def write_report(out, rows, grids, meta):
    """report.json ({"meta", "results"}), report.md, grid.png and report.html in the folder
    `out`. meta: data (the photos' folder), size, photos, and anything else to keep."""
    os.makedirs(out, exist_ok=True)
    atomic_write_text(os.path.join(out, "report.json"), json.dumps({"meta": meta, "results": rows}, indent=2))
    intro = f"{meta['photos']} photos from `{meta['data']}` at {meta['size']}x{meta['size']}."
    atomic_write_text(os.path.join(out, "report.md"), f"# Evaluation\n\n{intro}\n\n" + markdown_table(rows))
    columns = grid_columns(rows, grids)
    grid = image_grid(columns, height=128, max_rows=16)
    atomic_write(os.path.join(out, "grid.png"), lambda tmp: grid.save(tmp, format="PNG"))
    atomic_write_text(os.path.join(out, "report.html"), html_page(rows, [label for label, _ in columns], meta))


def html_page(rows, column_labels, meta):
    """The report page: the table of every row's numbers and the grid (grid.png beside it)."""
    def cell(v):
        return html.escape(str(round(v, 4) if isinstance(v, float) else v))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0].keys() if rows else []))
    table = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r.values()) + "</tr>" for r in rows)
    data = html.escape(str(meta["data"]))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>colorizer evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}</style></head>
<body><h1>Evaluation</h1><p>{meta['photos']} photos from <code>{data}</code> at {meta['size']}x{meta['size']}.</p>
<table><tr>{head}</tr>{table}</table>
<h2>Grid</h2><p>Columns: {', '.join(html.escape(c) for c in column_labels)}</p>
<img src="grid.png" alt="image grid"></body></html>"""
