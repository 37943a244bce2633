"""The /docs page: plain HTML rendered from the app's OpenAPI schema, with no external
assets (it works offline and under the strict Content-Security-Policy)."""
import html
import re

esc = html.escape


def text(s):
    """Escaped text with its `code` spans (Markdown backticks) as <code> elements."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(str(s)))


def values_text(prop):
    """A property's range or choices and default, in words ("0 to 1, default 0.62")."""
    parts = []
    if "enum" in prop:
        parts.append("one of " + ", ".join(str(v) for v in prop["enum"]))
    elif "minimum" in prop and "maximum" in prop:
        parts.append(f"{prop['minimum']:g} to {prop['maximum']:g}")
    elif "minimum" in prop:
        parts.append(f"at least {prop['minimum']:g}")
    if "default" in prop:
        parts.append(f"default {prop['default']}")
    return ", ".join(parts)


def request_body(ctype, schema):
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    rows = [f"<h3>Request body: <code>{esc(ctype)}</code></h3>",
            "<table><tr><th>field</th><th>type</th><th>values</th><th>description</th></tr>"]
    for name, p in props.items():
        kind = p.get("format", p.get("type", ""))
        req = " (required)" if name in required else ""
        rows.append(f"<tr><td><code>{esc(name)}</code>{req}</td><td>{esc(str(kind))}</td>"
                    f"<td>{esc(values_text(p))}</td><td>{text(p.get('description', ''))}</td></tr>")
    rows.append("</table>")
    return rows


def operation(method, path, op):
    parts = [f'<section class="op"><h2><code>{esc(method.upper())} {esc(path)}</code></h2>',
             f"<p><strong>{text(op.get('summary', ''))}</strong></p>"]
    if op.get("description"):
        parts.append(f"<pre class=\"desc\">{text(op['description'])}</pre>")
    for ctype, spec in op.get("requestBody", {}).get("content", {}).items():
        parts += request_body(ctype, spec.get("schema", {}))
    parts.append("<h3>Responses</h3><ul>")
    for code, r in op.get("responses", {}).items():
        types = ", ".join(r.get("content", {}).keys())
        parts.append(f"<li><code>{esc(code)}</code> {text(r.get('description', ''))} <small>{esc(types)}</small></li>")
    parts.append("</ul></section>")
    return parts


def render_docs(schema):
    """A plain HTML page describing the API from its OpenAPI schema."""
    parts = [f"<h1>{esc(schema['info']['title'])} API <small>{esc(schema['info']['version'])}</small></h1>",
             '<p>Machine-readable schema: <a href="/openapi.json">/openapi.json</a>. '
             'Web page: <a href="/">/</a>. Errors are JSON <code>{"error": "..."}</code>.</p>']
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            parts += operation(method, path, op)
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Colorizer API</title>"
            "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">"
            "<link rel=\"stylesheet\" href=\"/static/style.css\"></head><body class=\"docs\"><main>"
            + "\n".join(parts) + "</main></body></html>")
