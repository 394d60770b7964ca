"""Every place a message leaves the changes reader, the log reader and adherence, found by walking the
source with :mod:`ast` (used by tests/test_blind_messages.py, which must cover each one).

A *message site* is:

1. the message and hint of every construction of a :class:`dosing.errors.DosingError` subclass
   (``raise ChangesError(...)``, ``return LogError(...)``, ``raise ValueParseError(...)``);
2. every bad-row or problem report: ``bad(...)``, ``problems.append(...)``, ``checks.fail(mask, messages)``;
3. every reason, flag or note written into an adherence table: what is assigned to ``flag``,
   ``reasons``, ``x["flag"]``, ``x["reason"]``, ``x["dose_note"]``, and what a ``*_reasons`` function returns;
4. every line a command prints as its summary (``summary_text``, ``describe_effects`` and the helpers
   they call in the same module).

The texts of a site are found by following its expression within the module: an f-string gives a
*template* (its literal parts, with ``{}`` where a value goes), a plain string gives itself, a name
gives what the function assigns (or appends) to it, a call of a function of the same module gives
what that function returns. A template without 4 letters of literal text ("\\n  ", "%Y-%m-%d") says
nothing and is dropped. A site whose expression leads to no text at all relays a message made
elsewhere (``bad(err.message)``); relays are listed by the test, so a new one is noticed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import dosing.errors

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    [
        ROOT / "dosing" / "plan" / "changes.py",
        ROOT / "dosing" / "plan" / "apply_changes.py",
        ROOT / "dosing" / "plan" / "dose_levels.py",
        ROOT / "dosing" / "io" / "read" / "changes.py",
        ROOT / "dosing" / "io" / "read" / "log.py",
        ROOT / "dosing" / "io" / "read" / "redcap.py",
        *(ROOT / "dosing" / "adherence").glob("[!_]*.py"),
        ROOT / "dosing" / "jobs" / "adherence.py",
        ROOT / "dosing" / "io" / "write" / "report_html.py",
    ]
)
ERRORS = {
    name
    for name, value in vars(dosing.errors).items()
    if isinstance(value, type) and issubclass(value, dosing.errors.DosingError)
}
REPORTERS = {("", "bad"), ("problems", "append"), ("checks", "fail")}
TABLE_TEXTS = {"flag", "reasons", "reason", "dose_note"}
PRINTERS = {"summary_text", "_not_judged", "describe_effects"}


@dataclass(frozen=True)
class Site:
    module: str  # path relative to the repository
    function: str
    expression: str  # the message expression as written (ast.unparse)
    templates: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.module}:{self.function}: {self.expression[:80]}"


def template(node: ast.JoinedStr | ast.Constant) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    return "".join(str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values)


def says_something(text: str) -> bool:
    """Words, not a column name or a format: 4 letters and a space outside the ``{}``."""
    literal = text.replace("{}", "")
    return len(re.findall(r"[A-Za-z]", literal)) >= 4 and " " in literal.strip(" ")


def pattern(text: str) -> re.Pattern[str]:
    """A template as a regular expression: literal parts exactly, any text where a value goes."""
    return re.compile(r"[\s\S]*?".join(re.escape(part) for part in text.split("{}")))


class _Module:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.functions: dict[str, ast.FunctionDef] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef):
                self.functions.setdefault(node.name, node)
        self.parents = {child: parent for parent in ast.walk(self.tree) for child in ast.iter_child_nodes(parent)}

    def function_of(self, node: ast.AST) -> ast.FunctionDef | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef):
                return node
        return None

    def texts(self, node: ast.AST, scope: ast.FunctionDef | None, seen: set[object]) -> list[str]:
        """Every text the expression can produce, following names and calls of this module's functions."""
        if isinstance(node, (ast.JoinedStr, ast.Constant)):
            found = [template(node)] if isinstance(node, ast.JoinedStr) or isinstance(node.value, str) else []
            if isinstance(node, ast.JoinedStr):  # f"...{_helper(x)}...": the helper's texts are part of it
                for part in node.values:
                    if isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Call):
                        found += self._call(part.value, seen)
            return found
        if isinstance(node, ast.Name):
            return self._assigned(node.id, scope, seen)
        return [text for part in _text_parts(node) for text in self.texts(part, scope, seen)] + (
            self._call(node, seen) if isinstance(node, ast.Call) else []
        )

    def _call(self, node: ast.Call, seen: set[object]) -> list[str]:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        function = self.functions.get(name or "")
        if function is None or function in seen:
            return []
        seen.add(function)
        returns = [n.value for n in ast.walk(function) if isinstance(n, ast.Return) and n.value is not None]
        return [text for value in returns for text in self.texts(value, function, seen)]

    def _assigned(self, name: str, scope: ast.FunctionDef | None, seen: set[object]) -> list[str]:
        """What the function (else the module, for a constant) assigns or appends to ``name``."""
        if (scope, name) in seen:
            return []
        seen.add((scope, name))
        found: list[str] = []
        body = ast.walk(scope) if scope is not None else iter(self.tree.body)
        for node in body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(_names(target) == name for target in targets):
                    found += self.texts(node.value, scope, seen)
            if isinstance(node, ast.Call) and _attribute(node.func) == (name, "append"):
                found += [t for arg in node.args for t in self.texts(arg, scope, seen)]
        return found or (self._assigned(name, None, seen) if scope is not None else [])


def _text_parts(node: ast.AST) -> list[ast.AST]:
    """The parts of an expression that can carry its text (not conditions, masks or indexes):
    ``np.where(mask, a, b)`` -> a, b; ``np.select(masks, texts, default=...)`` -> texts, default;
    ``sep.join(x)`` -> x; ``obj.method(...)`` -> obj; ``f(x, ...)`` -> x; ``x[i]`` -> x."""
    if isinstance(node, ast.Call):
        called = _attribute(node.func)
        name = called[1] if called else ""
        defaults = [k.value for k in node.keywords if k.arg == "default"]
        if name == "where":
            return node.args[1:]
        if name == "select":
            return node.args[1:2] + defaults
        if name == "join" or not isinstance(node.func, ast.Attribute) or isinstance(node.func.value, ast.Name):
            return node.args[:1] if name not in ("len", "int", "float") else []
        return [node.func.value]
    if isinstance(node, ast.Subscript):
        return [node.value]
    if isinstance(node, (ast.BinOp,)):
        return [node.left, node.right]
    if isinstance(node, ast.IfExp):
        return [node.body, node.orelse]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return list(node.elts)
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return [node.elt]
    if isinstance(node, ast.Dict):
        return [v for v in node.values if v is not None]
    if isinstance(node, ast.Starred):
        return [node.value]
    return []


def _names(target: ast.AST) -> str | None:
    """The variable an assignment target writes: ``x`` for ``x``, ``x[...]`` and ``x["flag"]``."""
    while isinstance(target, ast.Subscript):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _attribute(func: ast.AST) -> tuple[str, str] | None:
    if isinstance(func, ast.Name):
        return "", func.id
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else ""
        return owner, func.attr
    return None


def _table_text(target: ast.AST) -> bool:
    if isinstance(target, ast.Name):
        return target.id in TABLE_TEXTS
    key = target.slice if isinstance(target, ast.Subscript) else None
    return isinstance(key, ast.Constant) and key.value in TABLE_TEXTS


def _message_nodes(module: _Module) -> list[tuple[ast.AST, ast.AST]]:
    """(the node that emits, its message expression) for every site kind of the module's docstring."""
    found: list[tuple[ast.AST, ast.AST]] = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            called = _attribute(node.func)
            if called is not None and called[0] == "" and called[1] in ERRORS:
                found += [(node, arg) for arg in node.args[:1]]
                found += [(node, k.value) for k in node.keywords if k.arg == "hint"]
            elif called in REPORTERS:
                index = 1 if called == ("checks", "fail") else 0
                found += [(node, arg) for arg in node.args[index : index + 1]]
        if isinstance(node, ast.Assign) and any(_table_text(t) for t in node.targets):
            found.append((node, node.value))
        if isinstance(node, ast.FunctionDef) and (node.name.endswith("_reasons") or node.name in PRINTERS):
            found += [(n, n.value) for n in ast.walk(node) if isinstance(n, ast.Return) and n.value is not None]
        if isinstance(node, ast.FunctionDef) and node.name in PRINTERS:
            specs = {v.format_spec for v in ast.walk(node) if isinstance(v, ast.FormattedValue)}
            found += [(n, n) for n in ast.walk(node) if isinstance(n, ast.JoinedStr) and n not in specs]
    return [(node, expression) for node, expression in found if not _empty(expression)]


def _empty(expression: ast.AST) -> bool:
    """``return ""``: no message."""
    return isinstance(expression, ast.Constant) and expression.value == ""


def message_sites() -> list[Site]:
    sites: dict[tuple[str, str, str], Site] = {}
    for path in MODULES:
        module = _Module(path)
        for node, expression in _message_nodes(module):
            scope = module.function_of(node) if not isinstance(node, ast.FunctionDef) else node
            texts = tuple(dict.fromkeys(t for t in module.texts(expression, scope, set()) if says_something(t)))
            key = (str(path.relative_to(ROOT)), scope.name if scope else "<module>", ast.unparse(expression))
            sites[key] = Site(*key, texts)
    return list(sites.values())
