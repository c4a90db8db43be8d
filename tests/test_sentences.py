"""Coverage from the spec's sentences (issue 22, item 1): the declarative text names every
branch a sentence introduces (``exo.spec.declarative.text.branch``), the cells are read
from it (``exo.spec.cells.sentence_cells``), each call is classified by it
(``sentences_of``), and Z3 decides which cells no state reaches.

The lint below reads the text's source: every condition of an ``If`` is either about the
key of a map field (``p == page``), or made of named branches (or of a parameter the
caller names) — so a sentence's branch cannot hide from the coverage table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from exo.interface import Config, Vector
from exo.kit.coverage import UNREACHABLE, all_cells
from exo.model import REGISTRY, initial
from exo.proofs.coverage import decide_sentence
from exo.spec.cells import SENTENCE_KINDS, sentence_cells, sentences_of

ROOT = Path(__file__).resolve().parent.parent
TEXT_DIR = ROOT / "spec" / "declarative"

ALLOWED: dict[tuple[str, str], str] = {
    ("vocabulary.py", "following_slice"): "the wrap of CPU-5 is the branch `wraps` of "
    "next_slice_begun, where the sentence speaks",
}
"""(file, function) -> why an ``If`` there needs no branch of its own."""


def _atoms(node: ast.expr) -> list[ast.expr]:
    """The leaves of a condition under And/Or/Not (calls of the logic layer) and ``and``/
    ``or``/``not``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
            "And", "Or", "Not"):
        return [a for arg in node.args for a in _atoms(arg)]
    if isinstance(node, ast.BoolOp):
        return [a for v in node.values for a in _atoms(v)]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _atoms(node.operand)
    return [node]


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _is_branch(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
        node.func.id == "branch")


class _Lint(ast.NodeVisitor):
    """Every ``If`` condition atom must be about a lambda's key, a ``branch`` call, a name
    bound to branches only, or a parameter of the function (its caller names it)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[str] = []
        self.keys: list[set[str]] = []  # parameters of the enclosing lambdas
        self.scopes: list[tuple[str, set[str], dict[str, ast.expr]]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        params = {a.arg for a in node.args.args}
        bound = {t.id: n.value for n in ast.walk(node) if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name)}
        self.scopes.append((node.name, params, bound))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.keys.append({a.arg for a in node.args.args})
        for sub in ast.walk(node.body):
            if _is_branch(sub) and isinstance(sub, ast.Call):
                self.problems.append(f"{self.filename}:{sub.lineno}: branch() inside a "
                                     "lambda is never recorded (call it where the view is "
                                     "built)")
        self.generic_visit(node)
        self.keys.pop()

    def _derived(self, atom: ast.expr, depth: int = 0) -> bool:
        if _is_branch(atom):
            return True
        if any(_names(atom) & keys for keys in self.keys):
            return True  # about the key of a map field (or a function of it)
        inner = {n for n in ast.walk(atom) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Name) and n.func.id not in ("And", "Or", "Not")}
        if isinstance(atom, ast.Call) and atom in inner and any(
                isinstance(a, ast.Name) and any(a.id in k for k in self.keys)
                for a in atom.args):
            return True
        if isinstance(atom, ast.Name) and depth < 5:
            for _, params, bound in reversed(self.scopes):
                if atom.id in params:
                    return True
                if atom.id in bound:
                    return all(self._derived(a, depth + 1) for a in _atoms(bound[atom.id]))
        return False

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "If" and node.args:
            function = self.scopes[-1][0] if self.scopes else "<module>"
            if (self.filename, function) not in ALLOWED:
                for atom in _atoms(node.args[0]):
                    if not self._derived(atom):
                        self.problems.append(
                            f"{self.filename}:{node.lineno}: `{ast.unparse(atom)}` in "
                            f"{function} decides an If but is no branch (name it with "
                            "branch(cite, label, cond))")
        self.generic_visit(node)


def lint(source: str, filename: str) -> list[str]:
    checker = _Lint(filename)
    checker.visit(ast.parse(source))
    return checker.problems


def test_every_if_of_the_text_is_a_named_branch_or_a_key() -> None:
    problems = []
    for path in sorted(TEXT_DIR.glob("*.py")):
        problems += lint(path.read_text(encoding="utf-8"), path.name)
    assert not problems, "\n".join(problems)


def test_the_lint_can_fail() -> None:
    """Sensitivity: an unnamed condition, and a branch hidden in a lambda, are reported."""
    planted = '''
def started(v, e, when=True):
    ready = v.repo_exc[e]
    return v.given(C, pc=If(ready, 1, v.pc), regs=lambda r: If(branch(C, "x", r > 0), 0, 1))
'''
    problems = lint(planted, "planted.py")
    assert any("`ready`" in p for p in problems), problems
    assert any("inside a lambda" in p for p in problems), problems


def test_cells_of_the_text() -> None:
    cells = sentence_cells()
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids))
    assert {c.kind for c in cells} == set(SENTENCE_KINDS)
    assert set(ids) <= {c.id for c in all_cells()}
    # the sentence nobody tested before issue 22: CPU-5/REV-4, dropped at a start
    assert "timer_tick/branch/repossession-handler=no" in ids
    assert "yield_to/branch/repossession-handler=no" in ids


def test_a_start_that_drops_a_waiting_exception_is_classified() -> None:
    """An environment with a waiting repossession exception and no repossession handler
    starts: the step exercises repossession-waiting=yes and repossession-handler=no."""
    cfg = Config(n_envs=2, n_slices=2)
    s = initial(cfg)
    steps = [("env_create", (0, 0)), ("slice_alloc", (0, 1)),
             ("set_interrupt_context", (0, 0, 0x100))]
    for name, args in steps:
        s, res = REGISTRY[name](s, *args)
        assert res.status == 0, (name, res)
    s = s.replace(repo_exc=s.repo_exc.set(0, True))
    assert s.entry[0, int(Vector.REPOSSESSION)] == -1
    cells = sentences_of(s, "timer_tick", ())
    assert "timer_tick/branch/repossession-waiting=yes" in cells, cells
    assert "timer_tick/branch/repossession-handler=no" in cells, cells
    post, _ = REGISTRY["timer_tick"](s, )
    assert post.cur_env == 0 and not post.repo_exc[0]


@pytest.mark.parametrize("kind", SENTENCE_KINDS)
def test_z3_decides_every_sentence_cell(kind: str) -> None:
    """Every sentence cell is possible, except those in UNREACHABLE, which are proved
    unreachable for every size."""
    for cell in sentence_cells():
        if cell.kind != kind:
            continue
        verdict = decide_sentence(cell).verdict
        want = "unreachable" if cell.id in UNREACHABLE else "possible"
        assert verdict == want, (cell.id, verdict)
