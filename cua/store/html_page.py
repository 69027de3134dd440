"""One self-contained HTML page per run, for reading a trajectory in any browser, offline.

Each step shows the screenshot the policy saw with the action drawn on it (a circle and a
crosshair at a click, an arrow for a drag or a scroll), then the thought, the action, the parse
error if any, the window title, what the click hit and the timings; the run's verdicts come
first, the newest marked as current. The file needs nothing else: screenshots are inlined as
``data:`` URLs, once each even when several steps show the same screen (SVG ``<use>``), and the
marks are SVG drawn over the untouched image, so the pixels are exactly the recorded ones.

Where a mark goes is read from the opaque action JSON: ``x``/``y`` (or ``coordinate: [x, y]``)
in screenshot pixels, and ``to_x``/``to_y`` (or ``end_x``/``end_y``) for a drag's end.
Everything else is shown as text; all text is HTML-escaped.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from cua.store.errors import ExportError
from cua.store.export import writing_to
from cua.store.records import Run, Step, Verdict

if TYPE_CHECKING:
    from cua.store.store import TrajectoryStore

Point = tuple[float, float]

_CSS = """
:root { --fg: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #f5f7fa; --card: #fff;
        --ok: #15803d; --bad: #b91c1c; --unk: #a16207; --mark: #e11d48; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       background: var(--bg); }
main { max-width: 1500px; margin: 0 auto; padding: 20px 24px 60px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
.instruction { font-size: 18px; margin: 6px 0 12px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 18px; color: var(--muted); font-size: 13.5px; }
.meta b { color: var(--fg); font-weight: 600; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 13px; font-weight: 600;
         color: #fff; background: var(--muted); vertical-align: 2px; }
.badge.success, .badge.yes { background: var(--ok); }
.badge.failure, .badge.error, .badge.no { background: var(--bad); }
.badge.interrupted, .badge.unknown, .badge.needs_user, .badge.cancelled { background: var(--unk); }
.summary { margin: 10px 0 0; padding: 8px 12px; background: var(--card); border-left: 4px solid var(--line); }
table { border-collapse: collapse; background: var(--card); width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12.5px; text-transform: uppercase;
     letter-spacing: .03em; }
tr.current td { background: #fffbea; }
.step { display: grid; grid-template-columns: minmax(0, 62fr) minmax(0, 38fr); gap: 18px;
        background: var(--card);
        border: 1px solid var(--line); border-radius: 8px; padding: 14px; margin: 14px 0; }
@media (max-width: 900px) { .step { grid-template-columns: 1fr; } }
.shot svg { width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 4px; }
.step h3 { margin: 0 0 8px; font-size: 16px; }
.step h3 .when { color: var(--muted); font-weight: 400; font-size: 13px; margin-left: 8px; }
.label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
         margin: 10px 0 2px; }
.thought { white-space: pre-wrap; }
.act { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 14.5px; font-weight: 600;
       color: var(--mark); }
pre { margin: 2px 0 0; padding: 7px 9px; background: var(--bg); border-radius: 4px; white-space: pre-wrap;
      word-break: break-word; font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
.perr { color: var(--bad); white-space: pre-wrap; }
.timings { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 13px; color: var(--muted); }
.timings b { color: var(--fg); font-weight: 600; }
details summary { cursor: pointer; color: var(--muted); font-size: 13px; }
.empty { color: var(--muted); font-style: italic; }
"""

_FIXED = 'vector-effect="non-scaling-stroke"'
#: Action fields worth showing in the one-line reading, in this order (coordinates come first).
_SHOWN_KEYS: tuple[str, ...] = (
    *("button", "count", "direction", "amount", "dx", "dy", "keys", "key"),
    *("text", "seconds", "answer", "reason", "question"),
)
_DIRECTIONS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
_COLOURS = {"left": "#e11d48", "right": "#2563eb", "middle": "#7c3aed"}


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pair(action: Mapping[str, Any], xs: tuple[str, str], lists: tuple[str, ...]) -> Point | None:
    x, y = action.get(xs[0]), action.get(xs[1])
    if isinstance(x, int | float) and isinstance(y, int | float) and _num(x) and _num(y):
        return float(x), float(y)
    for key in lists:
        value = action.get(key)
        if isinstance(value, list | tuple) and len(value) == 2 and all(_num(v) for v in value):
            return float(value[0]), float(value[1])
    return None


def action_points(action: Mapping[str, Any] | None) -> tuple[Point | None, Point | None]:
    """Return (where the action points, where a drag ends) in screenshot pixels, when the JSON says."""
    if not action:
        return None, None
    start = _pair(action, ("x", "y"), ("coordinate", "start", "start_coordinate"))
    end = _pair(action, ("to_x", "to_y"), ("to", "end", "end_coordinate"))
    if end is None:
        end = _pair(action, ("end_x", "end_y"), ())
    return start, end


def action_text(action: Mapping[str, Any] | None) -> str:
    """Return a one-line human reading of an action, e.g. ``click (640, 400)``."""
    if not action:
        return "no action"
    kind = str(action.get("type") or action.get("action") or "action")
    start, end = action_points(action)
    parts = [kind]
    if start:
        parts.append(f"({start[0]:g}, {start[1]:g})")
    if end:
        parts.append(f"→ ({end[0]:g}, {end[1]:g})")
    defaults: dict[str, Any] = {"button": "left", "count": 1, "dx": 0, "dy": 0}
    for key in _SHOWN_KEYS:
        value = action.get(key)
        if value is None or value == "" or (key in defaults and value == defaults[key]):
            continue
        if isinstance(value, list | tuple):
            value = "+".join(map(str, value))
        free_text = key in ("text", "answer", "reason", "question")  # quoted: spaces, newlines
        parts.append(f"{key}={json.dumps(value, ensure_ascii=False)}" if free_text else f"{key}={value}")
    return " ".join(parts)


def _marks(action: Mapping[str, Any] | None, size: tuple[int, int]) -> str:
    """Return SVG elements marking ``action`` on an image of ``size``."""
    start, end = action_points(action)
    if action is None or start is None:
        return ""
    kind = str(action.get("type") or action.get("action") or "")
    colour = _COLOURS.get(str(action.get("button", "left")), _COLOURS["left"])
    if "right" in kind:
        colour = _COLOURS["right"]
    r = max(size) / 64
    x, y = start
    out: list[str] = []

    def stroke(element: str, width: float = 2.5) -> None:
        # A white halo under each coloured stroke keeps the mark visible on any background;
        # non-scaling strokes stay as thick when the image is shown small.
        for colour_, width_ in (("#fff", width + 3), (colour, width)):
            out.append(
                element.replace("/>", f' stroke="{colour_}" stroke-width="{width_}" fill="none" {_FIXED}/>')
            )

    def line(a: Point, b: Point, width: float = 2.0, head: bool = False) -> None:
        stroke(f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}"/>', width)
        if head:
            out.append(
                f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}" stroke="{colour}" '
                f'stroke-width="{width}" {_FIXED} marker-end="url(#arrowhead-{colour[1:]})"/>'
            )

    stroke(f'<circle cx="{x}" cy="{y}" r="{r}"/>')
    count = action.get("count", 1)
    count = count if isinstance(count, int) and not isinstance(count, bool) else 1
    if count > 1 or "double" in kind:
        stroke(f'<circle cx="{x}" cy="{y}" r="{r * 0.6}"/>', 2)
    gap, reach = r * 0.35, r * 1.7
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        line((x + dx * gap, y + dy * gap), (x + dx * reach, y + dy * reach))
    if end is not None:
        line(start, end, 3, head=True)
        stroke(f'<circle cx="{end[0]}" cy="{end[1]}" r="{r * 0.5}"/>', 2)
    elif "scroll" in kind:
        # cua.actions.Scroll names a direction; the sandbox's scroll gives notches dx/dy.
        sx, sy = _DIRECTIONS.get(str(action.get("direction")), (action.get("dx", 0), action.get("dy", 0)))
        if _num(sy) and _num(sx) and (sx or sy):
            norm = (sx * sx + sy * sy) ** 0.5
            line(start, (x + sx / norm * r * 3.5, y + sy / norm * r * 3.5), 3, head=True)
    prefix = {2: "double ", 3: "triple "}.get(count, "")
    if str(action.get("button", "left")) != "left" and "right" not in kind:
        prefix += f"{action['button']} "
    label = html.escape(prefix + (kind or "action"))
    fs = r * 0.9
    lx, ly = x + r * 1.9, y - r * 1.1
    if lx > size[0] - fs * (len(label) * 0.6 + 1):
        lx = x - r * 1.9 - fs * len(label) * 0.6
    out.append(
        f'<text x="{lx}" y="{ly}" font-size="{fs}" font-family="system-ui, sans-serif" font-weight="700" '
        f'fill="{colour}" stroke="#fff" stroke-width="{fs / 5}" paint-order="stroke">{label}</text>'
    )
    return "\n".join(out)


def _defs(colours: set[str]) -> str:
    markers = "".join(
        f'<marker id="arrowhead-{c[1:]}" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="5" '
        'markerHeight="5" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{c}" stroke="#fff" stroke-width="1"/></marker>'
        for c in sorted(colours)
    )
    return markers


def _shot_svg(sha: str, size: tuple[int, int], marks: str, alt: str) -> str:
    w, h = size
    return (
        f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(alt)}">'
        f'<use href="#shot-{sha[:16]}"/>{marks}</svg>'
    )


def _fmt_json(value: Any) -> str:
    return html.escape(json.dumps(value, ensure_ascii=False, indent=2))


def _ms(value: Any) -> str:
    if not _num(value):
        return html.escape(str(value))
    return f"{value:,.0f} ms" if abs(value) >= 10 else f"{value:.1f} ms"


def _timings(timings: Mapping[str, float]) -> str:
    if not timings:
        return '<span class="empty">none recorded</span>'
    items = "".join(f"<span>{html.escape(k)} <b>{_ms(v)}</b></span>" for k, v in timings.items())
    return f'<div class="timings">{items}</div>'


def _verdicts(verdicts: list[Verdict]) -> str:
    if not verdicts:
        return '<p class="empty">No verdict yet.</p>'
    rows = []
    for i, v in enumerate(reversed(verdicts)):
        word, cls = {True: ("success", "yes"), False: ("failure", "no"), None: ("unknown", "unknown")}[
            v.success
        ]
        current = ' class="current"' if i == 0 else ""
        reasons = "<br>".join(html.escape(r) for r in v.reasons) or '<span class="empty">—</span>'
        evidence = (
            f"<details><summary>evidence</summary><pre>{_fmt_json(v.evidence)}</pre></details>"
            if v.evidence
            else ""
        )
        score = "" if v.score is None else f"{v.score:g}"
        rows.append(
            f"<tr{current}><td>{'current' if i == 0 else ''}</td><td>{v.created_at:%Y-%m-%d %H:%M:%S}</td>"
            f'<td>{html.escape(v.source.value)}</td><td><span class="badge {cls}">{word}</span></td>'
            f"<td>{score}</td><td>{reasons}{evidence}</td></tr>"
        )
    head = (
        "<tr><th></th><th>time (UTC)</th><th>source</th><th>success</th><th>score</th><th>reasons</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _step_html(step: Step, size: tuple[int, int]) -> str:
    parts = [f'<h3>Step {step.index}<span class="when">{step.started_at:%H:%M:%S} UTC</span></h3>']
    if step.window_title:
        parts.append(f'<div class="label">window</div><div>{html.escape(step.window_title)}</div>')
    parts.append('<div class="label">thought</div>')
    parts.append(
        f'<div class="thought">{html.escape(step.thought)}</div>'
        if step.thought
        else '<div class="empty">none</div>'
    )
    parts.append(
        f'<div class="label">action</div><div class="act">{html.escape(action_text(step.action))}</div>'
    )
    if step.action is not None:
        parts.append(f"<details><summary>action JSON</summary><pre>{_fmt_json(step.action)}</pre></details>")
    if step.parse_error:
        parts.append(
            f'<div class="label">parse error</div><div class="perr">{html.escape(step.parse_error)}</div>'
        )
    if step.hit:
        parts.append(f'<div class="label">hit</div><pre>{_fmt_json(step.hit)}</pre>')
    if step.raw_output and step.raw_output != step.thought:
        parts.append(
            f"<details><summary>raw model output</summary><pre>{html.escape(step.raw_output)}</pre></details>"
        )
    parts.append(f'<div class="label">timings</div>{_timings(step.timings)}')
    svg = _shot_svg(step.screenshot, size, _marks(step.action, size), f"screenshot of step {step.index}")
    text = "".join(parts)
    return (
        f'<section class="step" id="step-{step.index}"><div class="shot">{svg}</div><div>{text}</div>'
        + "</section>"
    )


def _header(run: Run) -> str:
    prov = run.provenance
    model = prov.model + (f" @ {prov.endpoint}" if prov.endpoint else "")
    if prov.checkpoint:
        model += f" (checkpoint {prov.checkpoint[:12]})"
    fmt = f"{prov.prompt_format} {prov.prompt_format_version}".strip() or "—"
    duration = ""
    if run.finished_at is not None:
        duration = f"{(run.finished_at - run.created_at).total_seconds():.1f} s"
    meta = [
        ("app", run.app),
        ("task", run.task_id or "—"),
        ("model", model),
        ("prompt format", fmt),
        ("seed", "—" if prov.seed is None else str(prov.seed)),
        ("started", f"{run.created_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("duration", duration or "—"),
        ("steps", str(run.step_count)),
        ("cua", prov.cua_version),
    ]
    metas = "".join(f"<span>{k} <b>{html.escape(v)}</b></span>" for k, v in meta)
    generation = (
        f"<details><summary>generation settings</summary><pre>{_fmt_json(dict(prov.generation))}</pre>"
        "</details>"
        if prov.generation
        else ""
    )
    summary = f'<div class="summary">{html.escape(run.summary)}</div>' if run.summary else ""
    return (
        f'<h1>Run {html.escape(run.id)} <span class="badge {run.status.value}">{run.status.value}</span></h1>'
        f'<div class="instruction">{html.escape(run.instruction)}</div><div class="meta">{metas}</div>'
        f"{generation}{summary}"
    )


def export_html(store: TrajectoryStore, run_id: str, path: str | os.PathLike[str]) -> Path:
    """Write the page for run ``run_id`` to ``path`` and return ``path``."""
    path = Path(path)
    run = store.get_run(run_id)
    steps = store.steps(run_id)
    verdicts = store.verdicts(run_id)
    shas = list(
        dict.fromkeys(
            [s.screenshot for s in steps] + ([run.final_screenshot] if run.final_screenshot else [])
        )
    )
    sizes: dict[str, tuple[int, int]] = {}
    images = []
    for sha in shas:
        data = store.screenshot_bytes(sha)
        with Image.open(io.BytesIO(data)) as image:
            sizes[sha] = image.size
        w, h = sizes[sha]
        url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        images.append(f'<image id="shot-{sha[:16]}" width="{w}" height="{h}" href="{url}"/>')
    colours = set(_COLOURS.values())
    body = [_header(run), "<h2>Verdicts</h2>", _verdicts(verdicts), f"<h2>Steps ({len(steps)})</h2>"]
    body += [_step_html(step, sizes[step.screenshot]) for step in steps]
    if not steps:
        body.append('<p class="empty">No steps were recorded.</p>')
    if run.final_screenshot:
        size = sizes[run.final_screenshot]
        body.append("<h2>Final screen</h2>")
        body.append(
            '<section class="step"><div class="shot">'
            f"{_shot_svg(run.final_screenshot, size, '', 'final screen')}"
            '</div><div><div class="label">after the last action</div></div></section>'
        )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>cua run {html.escape(run.id)}: {html.escape(run.instruction[:80])}</title>"
        f"<style>{_CSS}</style></head><body>"
        '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
        f"{_defs(colours)}{''.join(images)}</defs></svg>"
        f"<main>{''.join(body)}</main></body></html>\n"
    )
    if path.is_dir():
        raise ExportError(
            f"cannot export to {path}: it is a folder; give a file name such as {path / 'run.html'}"
        )
    tmp = path.with_name(path.name + ".tmp")
    try:
        with writing_to(path, scope=path.parent):  # the page, its temporary sibling, folders above
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(page, encoding="utf-8")
            tmp.replace(path)
    except ExportError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path


__all__ = ["action_points", "action_text", "export_html"]
