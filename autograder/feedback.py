"""A student's feedback page: per unit and per function, passed or not, and why.

Built only from the student's result (see :mod:`autograder.grade`), which holds no test code and no inputs or
expected values of hidden cases: what is not there cannot leak.
"""

from __future__ import annotations

from html import escape

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; } td, th { padding: .35rem .5rem; border-bottom: 1px solid #eee;
vertical-align: top; text-align: left; } .pass { color: #176f2c; } .fail { color: #b3261e; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: .5rem; margin: .3rem 0 0; font-size: 13px; }
.note { background: #fff6d6; padding: .5rem .75rem; border-left: 4px solid #e0b100; }
"""


def _mark(passed: bool) -> str:
    return '<span class="pass">✔ passed</span>' if passed else '<span class="fail">✘ not yet</span>'


def render_html(result: dict, total: float, max_total: float, notebook_max: dict[str, float]) -> str:
    student = escape(result["student"])
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>optimlab feedback: {student}"
             f"</title><style>{STYLE}</style></head><body>",
             f"<h1>optimlab feedback for {student}</h1>",
             f"<p><strong>Total: {total:g} of {max_total:g} points</strong> (written answers are graded separately"
             f" by your instructor). Graded file: <code>{escape(result['source'])}</code>.</p>"]
    for note in result["notes"]:
        parts.append(f"<p class='note'>{escape(note)}</p>")
    units = sorted({f["unit"] for f in result["functions"].values()} | set(result["notebooks"]))
    for unit in units:
        parts.append(f"<h2>{escape(unit)}</h2><table><tr><th>what</th><th>result</th><th>points</th></tr>")
        notebook = result["notebooks"].get(unit)
        if notebook is not None:
            maximum = notebook_max.get(unit, notebook["max_score"])
            passed = notebook["status"] == "ok" and notebook["score"] >= maximum
            detail = ""
            if notebook["status"] != "ok":
                detail = f"<pre>{escape(notebook['reason'])}</pre>"
            else:
                failed = [t for t in notebook["tests"] if not t["passed"]]
                lines = [f"test {t['id']}: {t['score']:g} of {t['max']:g}"
                         + (f" ({t['error']})" if t["error"] else "") for t in failed]
                if notebook["reason"]:
                    lines.insert(0, notebook["reason"])
                detail = f"<pre>{escape(chr(10).join(lines))}</pre>" if lines else ""
            parts.append(f"<tr><td>notebook exercises (autograded){detail}</td><td>{_mark(passed)}</td>"
                         f"<td>{notebook['score']:g} / {maximum:g}</td></tr>")
        for name, function in result["functions"].items():
            if function["unit"] != unit:
                continue
            message = "" if function["passed"] else f"<pre>{escape(function['message'])}</pre>"
            parts.append(f"<tr><td><code>{escape(name)}</code>{message}</td><td>{_mark(function['passed'])}</td>"
                         f"<td>{function['points']:g} / {function['max']:g}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
