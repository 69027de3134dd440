"""The exploration report: one self-contained HTML page (plots and screenshots inlined).

``cua explore report --html FILE`` writes it from ``explore.sqlite`` and the task files: per
exploration the figures, tasks per kind, candidates admitted and rejected (by reason), success
over time per kind (matplotlib, headless), tasks admitted over walks, the curriculum's decisions,
the newest proven tasks with the screen their demonstration ends on, and every walk that ended
early (a crashed application, a move that failed) counted by cause.
"""

from __future__ import annotations

import base64
import html
import io
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path
from typing import Any

from cua.explore.db import MEMORY, ROUND, ExploreDB

#: Attempts in the moving window of the success plot (the curriculum's window).
PLOT_WINDOW = 20
#: Newest proven tasks shown with their screenshot.
SHOWN_TASKS = 24


def _plot(draw: Any, title: str) -> str:
    """Return a matplotlib figure made by ``draw(ax)`` as an inline PNG <img>."""
    return _img(_png(draw, title), title)


def _png(draw: Any, title: str) -> bytes:
    """Return the PNG of a matplotlib figure made by ``draw(ax)`` (headless: Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.2), dpi=100)
    try:
        draw(ax)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    """Return an <img> with ``png`` inlined."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(head: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p class=muted>none</p>"
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def build(db_path: Path, app: str | None = None) -> str:
    """Return the report page for every exploration (of ``app``) in ``db_path``."""
    db = ExploreDB(db_path)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        parts = [_exploration(db, conn, e) for e in db.explorations() if app is None or e["app"] == app]
    finally:
        conn.close()
        db.close()
    body = "\n".join(parts) or "<p>No explorations yet: run <code>cua explore --app APP</code>.</p>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>cua exploration report</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }}
h3 {{ font-size: 15px; margin-top: 18px; }}
table {{ border-collapse: collapse; margin: 6px 0 12px; }}
td, th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }} .muted {{ color: #888; }}
.figures span {{ display: inline-block; margin-right: 18px; }} .figures b {{ font-size: 18px; }}
.tasks {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }}
.task {{ border: 1px solid #ddd; padding: 8px; }} .task img {{ width: 100%; border: 1px solid #eee; }}
</style></head><body>
<h1>Exploration report</h1>
{body}
</body></html>
"""


def _exploration(db: ExploreDB, conn: sqlite3.Connection, e: dict[str, Any]) -> str:
    eid, app = e["id"], e["app"]
    s = db.summary(eid)
    figures = "".join(
        f"<span><b>{s[k]}</b> {label}</span>"
        for k, label in [
            ("walks", "walks"),
            ("candidates", "candidates"),
            ("admitted_tasks", "proven tasks"),
            ("task_kinds", "task kinds"),
            ("chains_3plus", "chains of 3+"),
            ("attempts", "attempts"),
            ("attempt_successes", "attempts passed"),
        ]
    )
    kinds = conn.execute(
        "SELECT kind, SUM(admitted), COUNT(*) FROM candidates WHERE exploration = ?"
        " GROUP BY kind ORDER BY kind",
        (eid,),
    ).fetchall()
    kind_rows = [[k, a, n - a] for k, a, n in kinds]
    rejected = sorted(s["rejected"].items(), key=lambda kv: -kv[1])
    parts = [
        f"<h2>{html.escape(app)} — {html.escape(eid)} "
        f"<span class=muted>({html.escape(e['status'])})</span></h2>",
        f"<div class=figures>{figures}</div>",
        "<h3>Candidates per task kind</h3>",
        _table(["task kind", "admitted", "rejected"], kind_rows),
        "<h3>Rejections by reason</h3>",
        _table(["reason", "candidates"], [list(r) for r in rejected]),
    ]
    parts.append(_growth_plot(conn, eid))
    parts.append(_success_plot(db, app))
    parts.append(_memory_plot(db, app))
    parts.append(_rounds(db, eid))
    decisions = [d for d in db.decisions(eid) if d[1] not in (MEMORY, ROUND)][-30:]
    parts += [
        "<h3>Curriculum decisions (latest 30)</h3>",
        _table(
            ["kind", "decision", "success", "attempts", "walk"],
            [
                [
                    k,
                    d,
                    "—" if f.get("success") is None else f"{f['success']:.0%}",
                    f.get("attempts"),
                    f.get("walk"),
                ]
                for _, k, d, f in decisions
            ],
        ),
    ]
    parts.append(_failures(conn, eid))
    parts.append(_tasks(db, eid, app))
    return "\n".join(parts)


def _growth_plot(conn: sqlite3.Connection, eid: str) -> str:
    rows = conn.execute(
        "SELECT w.number, COALESCE(SUM(c.admitted), 0), COUNT(c.walk) FROM walks w"
        " LEFT JOIN candidates c ON c.exploration = w.exploration AND c.walk = w.number"
        " WHERE w.exploration = ? GROUP BY w.number ORDER BY w.number",
        (eid,),
    ).fetchall()
    if not rows:
        return ""
    xs, admitted, seen = [], [], []
    total_a = total_c = 0
    for walk, a, n in rows:
        total_a += a
        total_c += n
        xs.append(walk)
        admitted.append(total_a)
        seen.append(total_c)

    def draw(ax: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        ax.plot(xs, seen, label="candidates", color="#999")
        ax.plot(xs, admitted, label="proven tasks", color="#1a7f37", linewidth=2)
        ax.set_xlabel("walk")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.legend(loc="upper left")

    return "<h3>Tasks over walks</h3>" + _plot(draw, "Candidates and proven tasks, cumulative")


MEMORY_TITLE = "Experience memory over the attempts"


def _memory_draw(db: ExploreDB, app: str) -> Any:
    growth = sorted(g for e in db.explorations() if e["app"] == app for g in db.memory_growth(e["id"]))
    if not growth:
        return None
    xs = list(range(1, len(growth) + 1))
    items = [n for *_, n in growth]
    successes = list(accumulate(int(d == "success") for *_, d, _ in growth))
    pitfalls = list(accumulate(int(d == "pitfall") for *_, d, _ in growth))

    def draw(ax: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        ax.plot(xs, items, label="memory items (all sources)", color="#6a3d9a", linewidth=2)
        ax.plot(xs, successes, label="verified successes admitted", color="#1a7f37")
        ax.plot(xs, pitfalls, label="failures admitted as pitfalls", color="#b71c1c")
        ax.set_xlabel("attempt")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.legend(loc="upper left")

    return draw


def _memory_plot(db: ExploreDB, app: str) -> str:
    draw = _memory_draw(db, app)
    failed = Counter(
        d
        for e in db.explorations()
        if e["app"] == app
        for _, _, d, f in db.decisions(e["id"], MEMORY)
        if "items" not in f
    )
    failures = (
        "<p>Attempts the memory could not take:</p>"
        + _table(["why", "attempts"], [list(kv) for kv in failed.items()])
        if failed
        else ""
    )
    if draw is None:
        return "<h3>Memory growth</h3><p class=muted>no attempt admitted to memory yet</p>" + failures
    return "<h3>Memory growth</h3>" + _plot(draw, MEMORY_TITLE) + failures


def memory_png(db_path: Path, app: str) -> bytes | None:
    """Return the PNG plot of the memory's growth over ``app``'s attempts (None: none offered yet)."""
    return _app_png(db_path, app, _memory_draw, MEMORY_TITLE)


def _app_png(db_path: Path, app: str, make: Callable[[ExploreDB, str], Any], title: str) -> bytes | None:
    """Return the PNG of the plot ``make`` draws for ``app`` from the database (None: nothing to draw)."""
    db = ExploreDB(db_path)
    try:
        draw = make(db, app)
        return None if draw is None else _png(draw, title)
    finally:
        db.close()


def _rounds(db: ExploreDB, eid: str) -> str:
    rounds = db.learning_rounds(eid)
    if not rounds:
        return "<h3>Learning rounds</h3><p class=muted>none (cua explore --train-every N runs them)</p>"
    return "<h3>Learning rounds</h3>" + _table(
        ["model", "gate", "wins", "losses", "p", "rows", "reason"],
        [round_cells(r) for r in rounds],
    )


def round_cells(r: dict[str, Any]) -> list[Any]:
    """Return the cells of one learning round as the report and the app list them."""
    p = r.get("p_value")
    return [
        r.get("model") or "—",
        r["decision"],
        r.get("wins", "—"),
        r.get("losses", "—"),
        "—" if p is None else f"{float(p):.3g}",
        r.get("rows", "—"),
        r.get("reason", ""),
    ]


def _success_draw(db: ExploreDB, app: str) -> Any:
    """Return the function drawing attempt success per kind over time, or None without attempts."""
    attempts = db.attempts(app)
    if not attempts:
        return None
    per: dict[str, list[bool]] = defaultdict(list)
    series: dict[str, tuple[list[int], list[float]]] = {}
    for i, (_, kind, ok, _) in enumerate(attempts):
        per[kind].append(ok)
        window = per[kind][-PLOT_WINDOW:]
        xs, ys = series.setdefault(kind, ([], []))
        xs.append(i + 1)
        ys.append(sum(window) / len(window))

    def draw(ax: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        for kind, (xs, ys) in sorted(series.items()):
            ax.plot(xs, ys, label=kind, marker=".")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlim(0.5, len(attempts) + 0.5)  # one attempt still gets an axis of whole attempts
        ax.set_xlabel("attempt")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_ylabel(f"success (last {PLOT_WINDOW})")
        ax.legend(fontsize=8, loc="best")

    return draw


SUCCESS_TITLE = "Attempt success per task kind"


def _success_plot(db: ExploreDB, app: str) -> str:
    draw = _success_draw(db, app)
    if draw is None:
        return "<h3>Success over time per kind</h3><p class=muted>no attempts yet</p>"
    return "<h3>Success over time per kind</h3>" + _plot(draw, SUCCESS_TITLE)


def success_png(db_path: Path, app: str) -> bytes | None:
    """Return the PNG plot of attempt success per task kind of ``app`` (None: no attempts yet)."""
    return _app_png(db_path, app, _success_draw, SUCCESS_TITLE)


def _failures(conn: sqlite3.Connection, eid: str) -> str:
    ended = [
        r[0] for r in conn.execute("SELECT ended FROM walks WHERE exploration = ? AND ended != ''", (eid,))
    ]
    counts = Counter(_cause(text) for text in ended)
    lost = conn.execute(
        "SELECT COUNT(*) FROM claims WHERE exploration = ? AND number NOT IN"
        " (SELECT number FROM walks WHERE exploration = ?)",
        (eid, eid),
    ).fetchone()[0]
    rows = [[cause, n] for cause, n in counts.most_common()]
    if lost:
        rows.append(["walk started and never recorded (killed or in flight)", lost])
    return "<h3>Walks that ended early, and lost walks</h3>" + _table(["cause", "count"], rows)


def _cause(text: str) -> str:
    """Return the kind of an early end: the exception name or the first words."""
    for marker in (
        "OracleFailed",
        "GuestDied",
        "SandboxClosed",
        "TaskError",
        "quit",
        "waited",
        "did not appear",
    ):
        if marker in text:
            return marker
    return text.split(":", 1)[0][:60]


def _tasks(db: ExploreDB, eid: str, app: str) -> str:
    tasks = [t for t in db.tasks(app)][-SHOWN_TASKS:][::-1]
    if not tasks:
        return "<h3>Newest proven tasks</h3><p class=muted>none yet</p>"
    cards = []
    for t in tasks:
        png = Path(t.path).with_suffix(".png")
        img = ""
        if png.exists():
            img = _img(png.read_bytes(), "the screen the demonstration ends on")
        cards.append(
            f"<div class=task>{img}<div><b>{html.escape(t.instruction)}</b></div>"
            f"<div class=muted>{html.escape(t.kind)} · chain of {t.chain} · {html.escape(t.id)}</div></div>"
        )
    return f"<h3>Newest proven tasks ({len(tasks)} shown)</h3><div class=tasks>{''.join(cards)}</div>"
