"""The evaluation report: a Markdown table, report.json, and an HTML page with the image
grid (colorizer.grids.image_grid: a row per photo; the gray input, each model, the truth)."""
import html
import json
import math
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


# the HTML table's columns: key -> (heading, digits, +1 higher is better / -1 lower is better / 0 neither)
COLUMNS = {
    "model": ("model", None, 0), "vibrance": ("vibrance", 2, 0), "photos": ("photos", 0, 0),
    "psnr": ("PSNR (dB)", 2, 1), "ssim": ("SSIM", 4, 1), "ciede2000": ("CIEDE2000", 2, -1),
    "cf": ("colourfulness", 1, 0), "cf_true": ("colourfulness of the truth", 1, 0),
    "dcf": ("|ΔCF|", 1, -1), "photo_dcf": ("per-photo |ΔCF|", 1, -1), "fd_lite0": ("FD-Lite0", 2, -1),
    "seconds": ("seconds", 1, 0),
}
ARROWS = {1: "↑", -1: "↓", 0: ""}


def model_labels(specs):
    """A unique, short label for each model a user named (a bundled name, or a path): the
    bundled name, or the shortest tail of the path that no other model shares, without its
    extension ("a/model" and "b/model" for runs/a/model.safetensors and runs/b/model.safetensors;
    "model" when it is the only one). The same model named twice gets #1, #2."""
    parts = []
    for spec in specs:
        spec = str(spec)
        if os.sep in spec or spec.endswith((".safetensors", ".onnx")) or os.path.exists(spec):
            stem = os.path.splitext(os.path.normpath(os.path.abspath(spec)))[0]
            parts.append([p for p in stem.split(os.sep) if p])
        else:
            parts.append([spec])
    depth = [1] * len(parts)
    while True:
        labels = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        grow = [i for i, label in enumerate(labels) if depth[i] < len(parts[i])
                and any(labels[j] == label and parts[j] != parts[i] for j in range(len(parts)))]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    seen = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return out


def _shown(key, value):
    """A cell's text: a number rounded for its column, "-" for none (the model's own vibrance)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    digits = COLUMNS.get(key, (key, 4, 0))[1]
    if isinstance(value, float) and digits is not None:
        return f"{value:.{digits}f}"
    return str(value)


def html_page(rows, column_labels, meta):
    """The report page: the table of every row's numbers (readable headings, an arrow on the
    columns where higher or lower is better, the best value of each such column in bold)
    and the grid (grid.png beside it), with its columns named."""
    keys = [k for k in COLUMNS if any(k in r for r in rows)] + [k for k in (rows[0] if rows else {}) if k not in COLUMNS]
    best = {}
    for key in keys:
        direction = COLUMNS.get(key, (key, None, 0))[2]
        values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not math.isnan(r[key])]
        if direction and values:
            best[key] = max(values) if direction > 0 else min(values)

    def heading(key):
        name, _, direction = COLUMNS.get(key, (key, None, 0))
        why = {1: "higher is better", -1: "lower is better"}.get(direction)
        title = f' title="{why}"' if why else ""
        arrow = f"&nbsp;{ARROWS[direction]}" if direction else ""  # the arrow stays beside its name
        return f"<th{title}>{html.escape(name)}{arrow}</th>"

    def cell(row, key):
        value = row.get(key)
        text = html.escape(_shown(key, value))
        if key == "model":
            text = html.escape(INPUT_LABEL if value == GRAY else str(value))
            return f"<th scope=\"row\">{text}</th>"
        if key in best and value == best[key]:
            return f'<td class="best">{text}</td>'
        return f"<td>{text}</td>"

    head = "".join(heading(k) for k in keys)
    table = "".join("<tr>" + "".join(cell(r, k) for k in keys) + "</tr>" for r in rows)
    data = html.escape(str(meta["data"]))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>colorizer evaluation</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#1d1d1f}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f3f3f3}}
tr th:first-child{{text-align:left}}td.best{{font-weight:bold;background:#e3f4e1}}small{{color:#666}}</style></head>
<body><h1>Evaluation</h1><p>{meta['photos']} photos from <code>{data}</code> at {meta['size']}x{meta['size']}.
<small>↑ higher is better, ↓ lower is better; the best value of each such column is in bold.
Vibrance "-": the model's own.</small></p>
<table><tr>{head}</tr>{table}</table>
<h2>Grid</h2><p>Columns: {', '.join(html.escape(c) for c in column_labels)}</p>
<figure><img src="grid.png" alt="image grid: {html.escape(', '.join(column_labels))}"><figcaption>
A row per photo; each column is named at its top.</figcaption></figure></body></html>"""
