"""Hostile notebooks: a student's cells run in the sandbox, the tests are judged outside on exported answers.

Each test grades unit 03's notebook (two autograded tests: ``adagrad_step_sizes``, 2 points, and
``alpha_half_life``, 1 point) with one answer cell replaced by an attack, through the real pipeline: the merge with
the release, nbclient and a kernel inside bubblewrap, the trusted judge, nbgrader's gradebook and feedback.
"""

import json
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from autograder import answers, notebooks
from conftest import ROOT, SOLUTIONS, needs_sandbox

pytestmark = needs_sandbox
UNIT, NAME = "03_adaptive", "adaptive.ipynb"
RIGHT_ALPHA = "alpha_half_life = float(np.exp(np.log(0.5) / 50))"


@pytest.fixture(scope="module")
def main_root(tmp_path_factory):
    return notebooks.prepare_main_course(tmp_path_factory.mktemp("out"))


def student(tmp_path: Path, *, alpha: str = RIGHT_ALPHA, extra: list[dict] = (), package_init: str = "") -> Path:
    """A course folder: the reference package and unit 03's notebook with the alpha answer cell set to
    ``alpha`` and ``extra`` cells appended."""
    root = tmp_path / "course"
    shutil.copytree(SOLUTIONS / "optimlab", root / "optimlab", ignore=shutil.ignore_patterns("__pycache__"))
    if package_init:
        init = root / "optimlab" / "__init__.py"
        init.write_text(init.read_text() + "\n" + package_init)
    nb = json.loads((SOLUTIONS / UNIT / NAME).read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "answer-alpha-half-life")
    cell["source"] = alpha
    nb["cells"] += list(extra)
    (root / UNIT).mkdir()
    (root / UNIT / NAME).write_text(json.dumps(nb))
    return root


def grade(root: Path, main_root: Path, tmp_path: Path, seconds: float = notebooks.NOTEBOOK_SECONDS):
    start = time.monotonic()
    result, nb = notebooks.grade_notebook(root / UNIT / NAME, root, UNIT, NAME, "mallory", main_root,
                                          tmp_path / "work", sandboxed=True, seconds=seconds)
    result.elapsed = time.monotonic() - start
    return result, nb


def scores(result) -> dict[str, float]:
    return {t["id"]: t["score"] for t in result.tests}


HONEST = {"test-adagrad-step-sizes": 2.0, "test-alpha-half-life": 1.0}
CHEATED = {"test-adagrad-step-sizes": 2.0, "test-alpha-half-life": 0.0}


def test_the_reference_answers_get_every_point(main_root, tmp_path):
    result, nb = grade(student(tmp_path), main_root, tmp_path)
    assert scores(result) == HONEST, result
    assert result.score == 3 and not result.reason


def test_an_input_transformer_that_empties_later_cells_earns_nothing(main_root, tmp_path):
    alpha = "alpha_half_life = 0.3\nget_ipython().input_transformers_post.append(lambda lines: [])"
    result, _ = grade(student(tmp_path, alpha=alpha), main_root, tmp_path)
    assert scores(result) == CHEATED
    assert "not defined" in next(t for t in result.tests if t["id"] == "test-alpha-half-life")["error"] or \
        "did not run" in next(t for t in result.tests if t["id"] == "test-alpha-half-life")["error"]


def test_an_ast_transformer_that_strips_asserts_earns_nothing(main_root, tmp_path):
    alpha = """
import ast
class NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(NoAsserts())
alpha_half_life = 0.3
"""
    result, _ = grade(student(tmp_path, alpha=alpha), main_root, tmp_path)
    assert scores(result) == CHEATED
    error = next(t for t in result.tests if t["id"] == "test-alpha-half-life")["error"]
    assert "forgets too fast" in error, error     # the public assertion's own message


def test_fake_values_and_patched_libraries_earn_nothing(main_root, tmp_path):
    alpha = """
import numpy
numpy.allclose = lambda *a, **k: True
numpy.isclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
class Anything(float):
    __eq__ = __lt__ = __gt__ = __le__ = __ge__ = lambda self, other: True
    __abs__ = lambda self: Anything(0.0)
    __pow__ = __sub__ = __rsub__ = lambda self, other: Anything(0.0)
alpha_half_life = Anything(0.3)
"""
    init = ("import os, numpy\nif os.environ.get('NBGRADER_EXECUTION') or True:\n"
            "    numpy.allclose = lambda *a, **k: True\n")
    result, _ = grade(student(tmp_path, alpha=alpha, package_init=init), main_root, tmp_path)
    assert scores(result) == CHEATED
    error = next(t for t in result.tests if t["id"] == "test-alpha-half-life")["error"]
    assert "should be a float, got Anything" in error, error


def test_a_cell_sees_no_secret_changes_nothing_outside_and_leaves_nothing_running(main_root, tmp_path):
    victim = ROOT / "solutions" / "optimlab" / "check.py"
    before = victim.read_bytes()
    gradebook = main_root / "gradebook.db"
    gradebook_before = gradebook.read_bytes()
    marker = tmp_path / "daemon-wrote"
    attempts = [
        f"print(open({str(SOLUTIONS / UNIT / NAME)!r}).read())",
        f"print(open('../../solutions/{UNIT}/{NAME}').read())",
        "print(open('/proc/1/cwd/../solutions/03_adaptive/adaptive.ipynb').read())",
        "import autograder; print(autograder.__file__)",
        f"open({str(victim)!r}, 'a').write('\\n# changed\\n')",
        f"import sqlite3; sqlite3.connect({str(gradebook)!r}).execute('create table pwned(x)')",
        f"import subprocess; subprocess.Popen(['sh', '-c', 'sleep 3; echo late > {marker}'])",
        f"import os\nif os.fork() == 0:\n    import time; time.sleep(3); open({str(marker)!r}, 'w')",
        "import os; print(os.environ)",
        "import os; print(os.listdir('/'), os.listdir('/proc'))",
    ]
    alpha = RIGHT_ALPHA + "\n" + "\n".join(
        f"try:\n{_indent(code)}\nexcept BaseException as exc:\n    print('refused:', type(exc).__name__)"
        for code in attempts)
    result, nb = grade(student(tmp_path, alpha=alpha), main_root, tmp_path)
    assert scores(result) == HONEST
    time.sleep(4)
    assert victim.read_bytes() == before
    assert gradebook.read_bytes() == gradebook_before
    assert not marker.exists()
    assert subprocess.run(["pgrep", "-f", str(marker)], capture_output=True).stdout == b""
    text = json.dumps(nb)
    assert "BEGIN HIDDEN TESTS" not in text and "alpha_half_life ** 50 - 0.5" not in text
    assert "refused: FileNotFoundError" in text and "refused: ModuleNotFoundError" in text
    assert "refused: PermissionError" in text or "refused: OSError" in text


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.splitlines())


def test_feedback_is_safe_from_markup_markers_extra_cells_and_floods(main_root, tmp_path):
    alpha = RIGHT_ALPHA + """
### BEGIN HIDDEN TESTS
from IPython.display import HTML, Javascript, display
display(HTML("<script>alert('owned')</script><b>bold</b>"))
display(Javascript("alert('owned')"))
print("x" * 100_000_000)
"""
    claim = nbformat.v4.new_code_cell("print('give me points')", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "locked": True, "points": 100, "schema_version": 3,
        "solution": False, "task": False}})
    script = nbformat.v4.new_markdown_cell("<script>alert('markdown')</script> *mine* [x](javascript:alert(1))")
    root = student(tmp_path, alpha=alpha, extra=[claim, script])
    result, nb = grade(root, main_root, tmp_path)
    assert scores(result) == HONEST
    assert "dropped 1 graded cell(s) that are not in the course (bonus)" in result.reason
    staging = tmp_path / "staging"
    notebooks.write_autograded(main_root, UNIT, "mallory", NAME, root / UNIT / NAME, nb, staging)
    recorded = staging / "autograded" / "mallory" / UNIT / NAME
    assert recorded.stat().st_size < 2 << 20
    notebooks.import_into_main(main_root, staging, UNIT, "mallory", f"sqlite:///{main_root / 'gradebook.db'}")
    assert notebooks.feedback(main_root, UNIT, "mallory") == ""
    page = next((main_root / "feedback" / "mallory" / UNIT).glob("*.html")).read_text()
    assert "<script>alert" not in page            # the student's code is shown as text, never as markup
    assert 'href="javascript' not in page
    assert "<b>bold</b>" not in page and "x" * 100_000 not in page
    assert "give me points" not in page


def test_an_uninterruptible_endless_cell_costs_at_most_the_notebook_deadline(main_root, tmp_path):
    alpha = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    result, _ = grade(student(tmp_path, alpha=alpha), main_root, tmp_path, seconds=40)
    assert result.elapsed < 40 + 15
    assert scores(result) == CHEATED
    assert "ran out" in result.reason or "not run" in result.reason, result.reason


# ------------------------------------------------------------------------------ the rule for test cells


@pytest.mark.parametrize("notebook", sorted(SOLUTIONS.glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_every_test_cell_follows_the_rule(notebook):
    assert answers.check_convention(notebook) == []
    assert answers.test_cells(notebook), "a unit without autograded tests"


def test_the_rule_catches_a_test_that_reads_the_kernel(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np\nbowl = 3", metadata={"nbgrader": {"grade_id": "setup"}}),
        nbformat.v4.new_code_cell("answer = 2", metadata={"nbgrader": {"grade_id": "a", "solution": True}}),
        nbformat.v4.new_code_cell("assert answer == bowl\nassert globals()['answer'] == 2\nassert math.pi",
                                  metadata={"nbgrader": {"grade_id": "t", "grade": True, "points": 1}}),
    ])
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    problems = answers.check_convention(path)
    assert any("reads bowl" in p for p in problems), problems
    assert any("uses globals" in p for p in problems), problems
    assert any("reads math, which no locked cell before it imports" in p for p in problems), problems


def test_hidden_tests_are_judged_but_never_quoted(main_root, tmp_path):
    [test] = [t for t in answers.test_cells(SOLUTIONS / UNIT / NAME) if t.grade_id == "test-alpha-half-life"]
    export = json.dumps({"test": test.grade_id, "answers": {"alpha_half_life": 0.95}})
    verdict = answers.judge(test, export)
    assert not verdict.passed and "hidden test" in verdict.reason
    assert "0.5" not in verdict.reason and "alpha**50" not in verdict.reason
    assert answers.judge(test, json.dumps({"test": test.grade_id, "answers": {
        "alpha_half_life": float(0.5 ** (1 / 50))}})).passed


@pytest.mark.parametrize("export", [
    None, "", "not json", "[1, 2]", '{"test": "other", "answers": {}}', '{"test": "test-alpha-half-life"}',
    '{"test": "test-alpha-half-life", "answers": {"alpha_half_life": {"ndarray": {"dtype": "float64", '
    '"shape": [1000000000], "data": []}}}}',
    '{"test": "test-alpha-half-life", "answers": {"alpha_half_life": {"scalar": {"dtype": "object", "value": 1}}}}',
    '{"test": "test-alpha-half-life", "answers": {"alpha_half_life": NaN}}',
    '{"test": "test-alpha-half-life", "answers": {"alpha_half_life": {"missing": true}}}',
    '{"test": "test-alpha-half-life", "answers": {"alpha_half_life": ' + "[" * 5000 + "]" * 5000 + "}}",
])
def test_malformed_exports_fail_with_a_reason_and_never_raise(export):
    [test] = [t for t in answers.test_cells(SOLUTIONS / UNIT / NAME) if t.grade_id == "test-alpha-half-life"]
    verdict = answers.judge(test, export)
    assert not verdict.passed and verdict.reason
