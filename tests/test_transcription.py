"""A student who only copies shown code must not pass the problem sets.

"Shown code" is every top-level function of the lessons' code cells and every public function of
the teaching library ``dlparallel`` (its numba kernels included, by their Python source), but not
``dlparallel.grading``. For each problem set, the copier takes the release, and for every function
stub of a solution cell pastes the shown function whose name is most like the stub's (allowing
obvious renames: ``tiled_matmul`` for ``matmul_tiled``, ``fwd`` for ``forward``, ...) and whose
required parameters fit the stub's:

- a lesson function (or a kernel) by its source text, under the stub's name and with the stub's
  parameters (renamed, reordered where the names show the order), together with the lesson's
  helpers, imports and constants that it uses;
- a library function as a thin wrapper with the stub's signature that calls the library.

A stub that no shown function resembles is left as released, and so is the concept-answer cell.
The submission is graded by the real pipeline (``python -m dlparallel.grading autograde``) and
must earn at most a tenth of the set's autograded points: a grade must measure more than the
ability to find and rename code. The failure message says, per test cell, what the copier earned
and which shown function it pasted into which stub.
"""

from __future__ import annotations

import ast
import builtins
import copy
import importlib
import inspect
import os
import pkgutil
import re
import symtable
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import is_solution

from courses import PROBLEM_SETS, autograded_points, course_of
from test_grading import ROOT, _run, _scores

from dlparallel.grading.cells import grade_id

MAX_FRACTION = 0.10   # of a set's autograded points that copying may earn
STUDENT = "copier"
COPIED = "_copied_"   # prefix of a pasted helper whose name the problem set already uses
LEFT = "left as released"
# Seconds per cell: room for the kernel's start under load (nothing the copier pastes runs long).
CELL_TIMEOUT_S = 60

# ---------------------------------------------------------------------------------------------
# Names: how alike are a stub's name and a shown function's name


SYNONYMS = {"fwd": "forward", "bwd": "backward", "back": "backward", "grad": "gradient",
            "num": "numerical", "numeric": "numerical", "naive": "simple", "kern": "kernel",
            "avg": "average", "mean": "average", "training": "train", "mm": "matmul",
            "pct": "percentile", "perc": "percentile"}
COMPOUNDS = {("mat", "mul"): "matmul", ("all", "reduce"): "allreduce", ("soft", "max"): "softmax"}
# Tokens that say little about what a function computes: a forward pass is what a bare name means,
# "kernel" is a kind (checked separately), the rest are glue words.
WEIGHTS = {"forward": 0.25, "kernel": 0.0, "from": 0.0, "for": 0.0, "of": 0.0, "to": 0.0, "the": 0.0,
           "a": 0.0, "by": 0.0, "with": 0.0, "compute": 0.0, "get": 0.0, "my": 0.0}
MIN_NAME_SIMILARITY = 0.5
MIN_SCORE = 0.6          # name similarity plus PARAM_WEIGHT times the parameters' name similarity
PARAM_WEIGHT = 0.2


def _stem(token: str) -> str:
    token = SYNONYMS.get(token, token)
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        token = SYNONYMS.get(token[:-1], token[:-1])
    return token


def name_tokens(name: str) -> list[str]:
    """The normalised words of a Python name.

    >>> name_tokens("matmul_tiled_kernel"), name_tokens("grads_fwd"), name_tokens("ring_all_reduce")
    (['matmul', 'tiled', 'kernel'], ['gradient', 'forward'], ['ring', 'allreduce'])
    """
    words = [w for w in name.lower().strip("_").split("_") if w]
    joined, i = [], 0
    while i < len(words):
        if tuple(words[i:i + 2]) in COMPOUNDS:
            joined.append(COMPOUNDS[tuple(words[i:i + 2])])
            i += 2
        else:
            joined.append(words[i])
            i += 1
    return [_stem(w) for w in joined]


def name_similarity(a: str, b: str) -> float:
    """Weighted Jaccard similarity of two names' word sets (order does not matter), 0 to 1.

    >>> name_similarity("tiled_matmul", "matmul_tiled")
    1.0
    >>> name_similarity("shard", "ring_allreduce")
    0.0
    """
    ta, tb = set(name_tokens(a)), set(name_tokens(b))
    weight = lambda tokens: sum(WEIGHTS.get(t, 1.0) for t in tokens)  # noqa: E731
    shared = ta & tb
    if weight(shared) == 0:
        return 1.0 if ta == tb else 0.0
    return weight(shared) / weight(ta | tb)


def _initials(name: str) -> str:
    return "".join(w[0] for w in name.lower().split("_") if w)


def params_alike(a: str, b: str) -> bool:
    """Whether two parameter names say the same thing: equal words, or one abbreviates the other.

    >>> params_alike("s", "serial_fraction"), params_alike("bpe", "bytes_per_element"), params_alike("n", "workers")
    (True, True, False)
    """
    if name_tokens(a) == name_tokens(b):
        return True
    short, long = sorted((a.lower().strip("_"), b.lower().strip("_")), key=len)
    if not short or "_" in short or len(short) > 3 or len(long) <= len(short):
        return False
    return short == _initials(long) or (len(short) == 1 and long.startswith(short))


# ---------------------------------------------------------------------------------------------
# Shown functions


@dataclass
class Source:
    """Where a pasted function's free names come from: the lesson (or module) that defines it."""
    defs: dict[str, ast.FunctionDef] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)       # name -> import statement
    constants: dict[str, ast.stmt] = field(default_factory=dict)  # name -> its assignment


@dataclass
class Shown:
    """A function that a lesson or the library shows."""
    name: str
    origin: str                              # lessons/<file> or the dlparallel module
    params: list[tuple[str, bool]]           # positional parameters: (name, has a default)
    kernel: bool = False                     # a numba kernel (pasted with the stub's decorator)
    vararg: bool = False
    kwonly_required: tuple[str, ...] = ()
    literals: dict[str, tuple[str, ...]] = field(default_factory=dict)  # parameter -> Literal options
    node: ast.FunctionDef | None = None      # pasted by source; None: called in the library
    source: Source | None = None
    call: str | None = None                  # dotted name to call, for library functions

    @property
    def label(self) -> str:
        return f"{self.origin}:{self.name}" + (" (kernel)" if self.kernel else "")


def _positional(args: ast.arguments) -> list[tuple[str, bool]]:
    names = [a.arg for a in args.posonlyargs + args.args]
    first_default = len(names) - len(args.defaults)
    return [(n, i >= first_default) for i, n in enumerate(names)]


def _is_jit(node: ast.FunctionDef) -> bool:
    return any("jit" in ast.unparse(d) for d in node.decorator_list)


def _literal_assignment(node: ast.stmt) -> bool:
    """An assignment of constants (and of names, checked later) to plain names: `N = 4`, `A, B = 1, 2.0`."""
    if not isinstance(node, ast.Assign) or not all(isinstance(t, (ast.Name, ast.Tuple)) for t in node.targets):
        return False
    allowed = (ast.Constant, ast.Tuple, ast.List, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.operator,
               ast.unaryop, ast.Store)
    return all(isinstance(n, allowed) for n in ast.walk(node.value))


def _import_statements(node: ast.stmt) -> dict[str, str]:
    """name -> the import statement that binds it, one name per statement."""
    found = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            found[bound] = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
        for alias in node.names:
            found[alias.asname or alias.name] = (f"from {node.module} import {alias.name}"
                                                 + (f" as {alias.asname}" if alias.asname else ""))
    return found


def functions_of_cells(cells: list[str], origin: str) -> list[Shown]:
    """Every top-level function of these code cells (a cell that does not parse is skipped), with
    what they may use: the cells' other functions, imports and constant assignments."""
    source, functions = Source(), []
    for text in cells:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in tree.body:
            source.imports.update(_import_statements(node))
            if _literal_assignment(node):
                for target in node.targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            source.constants[name.id] = node
            if isinstance(node, ast.FunctionDef):
                source.defs[node.name] = node
                functions.append(Shown(node.name, origin, _positional(node.args), kernel=_is_jit(node),
                                       vararg=node.args.vararg is not None,
                                       kwonly_required=tuple(a.arg for a, d in zip(node.args.kwonlyargs,
                                                                                   node.args.kw_defaults)
                                                             if d is None),
                                       node=node, source=source))
    return functions


def lesson_functions(path: Path) -> list[Shown]:
    notebook = nbformat.read(path, as_version=4)
    return functions_of_cells([c.source for c in notebook.cells if c.cell_type == "code"], f"lessons/{path.name}")


def _literal_options(annotation) -> tuple[str, ...]:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    match = re.search(r"Literal\[(.*?)\]", text)
    return tuple(re.findall(r"""['"]([^'"]+)['"]""", match.group(1))) if match else ()


def _library_modules():
    import dlparallel

    yield dlparallel
    for info in pkgutil.walk_packages(dlparallel.__path__, "dlparallel."):
        if info.name == "dlparallel.grading" or info.name.startswith("dlparallel.grading."):
            continue
        yield importlib.import_module(info.name)


def _kernel_functions() -> list[Shown]:
    """The numba kernels of dlparallel.kernels, by the Python source of each (its py_func)."""
    from dlparallel import kernels

    module_tree = ast.parse(Path(kernels.__file__).read_text())
    file_imports: dict[str, str] = {}
    for node in ast.walk(module_tree):
        file_imports.update(_import_statements(node))
    shown = []
    for kernel_name in kernels.KERNELS:
        py_func = kernels.get_kernel(kernel_name).py_func
        node = ast.parse(textwrap.dedent(inspect.getsource(py_func))).body[0]
        source = Source()
        closure = inspect.getclosurevars(py_func)
        for name, value in {**closure.globals, **closure.nonlocals}.items():
            if isinstance(value, (bool, int, float, str)):
                source.constants[name] = ast.parse(f"{name} = {value!r}").body[0]
            elif inspect.ismodule(value):
                source.imports[name] = f"import {value.__name__} as {name}"
            elif name in file_imports:
                source.imports[name] = file_imports[name]
        shown.append(Shown(py_func.__name__, "dlparallel.kernels", _positional(node.args), kernel=True,
                           node=node, source=source))
    return shown


def library_functions() -> list[Shown]:
    """Every public function of dlparallel (not dlparallel.grading), and the kernels' sources."""
    found, seen = [], set()
    for module in _library_modules():
        for name, value in sorted(vars(module).items()):
            function = inspect.unwrap(value) if callable(value) else value
            if name.startswith("_") or not inspect.isfunction(function) or id(function) in seen:
                continue
            if function.__module__ != module.__name__:
                continue
            seen.add(id(function))
            signature = inspect.signature(function)
            kinds = inspect.Parameter
            params = [(p.name, p.default is not kinds.empty) for p in signature.parameters.values()
                      if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
            found.append(Shown(name, module.__name__, params,
                               vararg=any(p.kind is kinds.VAR_POSITIONAL for p in signature.parameters.values()),
                               kwonly_required=tuple(p.name for p in signature.parameters.values()
                                                     if p.kind is kinds.KEYWORD_ONLY and p.default is kinds.empty),
                               literals={p.name: _literal_options(p.annotation) for p in signature.parameters.values()
                                         if _literal_options(p.annotation)},
                               call=f"{module.__name__}.{name}"))
    return found + _kernel_functions()


def shown_functions() -> list[Shown]:
    lessons = [f for path in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb")) for f in lesson_functions(path)]
    return lessons + library_functions()


# ---------------------------------------------------------------------------------------------
# Matching a stub to a shown function


@dataclass
class Stub:
    """A function of a solution cell that the student is to write."""
    name: str
    params: list[tuple[str, bool]]
    kernel: bool = False
    node: ast.FunctionDef | None = None


def stub_of(node: ast.FunctionDef) -> Stub:
    return Stub(node.name, _positional(node.args), kernel=_is_jit(node) or "kernel" in name_tokens(node.name),
                node=node)


@dataclass
class Match:
    shown: Shown
    arguments: dict[str, str]   # shown parameter -> the stub parameter (or a quoted literal) it receives
    score: float


def map_arguments(stub: Stub, shown: Shown) -> dict[str, str] | None:
    """Which stub parameter each parameter of the shown function receives; None if they do not fit.

    Parameters pair up by name where the names say so (``s`` and ``serial_fraction``), the rest in
    order. A shown parameter with ``Literal`` options may be set by a word of the stub's name
    (``global_reads_naive`` calls ``global_reads(..., kernel="naive")``). Every required parameter
    of the shown function must receive a required parameter of the stub, and every required
    parameter of the stub must have a place.
    """
    stub_names = [n for n, _ in stub.params]
    shown_names = [n for n, _ in shown.params] + list(shown.kwonly_required)
    arguments: dict[str, str] = {}
    extra_words = set(name_tokens(stub.name)) - set(name_tokens(shown.name))
    for param, options in shown.literals.items():
        chosen = [o for o in options if _stem(o.lower()) in extra_words]
        if len(chosen) == 1:
            arguments[param] = repr(chosen[0])
    for s in stub_names:   # equal names, then unambiguous abbreviations
        same = [q for q in shown_names if q not in arguments and name_tokens(q) == name_tokens(s)]
        if len(same) == 1:
            arguments[same[0]] = s
    for s in stub_names:
        if s in arguments.values():
            continue
        alike = [q for q in shown_names if q not in arguments and params_alike(s, q)]
        if len(alike) == 1 and sum(params_alike(t, alike[0]) for t in stub_names if t not in arguments.values()) == 1:
            arguments[alike[0]] = s
    unplaced = [s for s in stub_names if s not in arguments.values()]
    for q, _ in shown.params:
        if q not in arguments and unplaced:
            arguments[q] = unplaced.pop(0)
    stub_required = {n for n, has_default in stub.params if not has_default}
    for q, has_default in [*shown.params, *((k, False) for k in shown.kwonly_required)]:
        received = arguments.get(q)
        if not has_default and (received is None or (received in stub_names and received not in stub_required)):
            return None
    if any(s in stub_required for s in unplaced) and not shown.vararg:
        return None
    return arguments


def match_stub(stub: Stub, shown: list[Shown]) -> Match | None:
    """The shown function a copying student would paste into ``stub``, if any is similar enough."""
    best = None
    for candidate in shown:
        if candidate.kernel != stub.kernel:
            continue
        similarity = name_similarity(stub.name, candidate.name)
        if similarity < MIN_NAME_SIMILARITY:
            continue
        arguments = map_arguments(stub, candidate)
        if arguments is None:
            continue
        alike = sum(any(params_alike(s, q) for s, _ in stub.params) for q, _ in candidate.params)
        param_similarity = alike / max(len(stub.params), len(candidate.params), 1)
        score = similarity + PARAM_WEIGHT * param_similarity
        # Ties: lessons before the library (earlier in the list), the same order every run.
        if score >= MIN_SCORE and (best is None or score > best.score):
            best = Match(candidate, arguments, score)
    return best


# ---------------------------------------------------------------------------------------------
# Pasting


def global_names(node: ast.AST) -> set[str]:
    """Names a top-level definition or statement reads from the module's namespace."""
    table = symtable.symtable(ast.unparse(node), "<pasted>", "exec")
    defined = {node.name} if isinstance(node, ast.FunctionDef) else set()
    names = {s.get_name() for s in table.get_symbols() if s.is_referenced()} - defined

    def walk(t):
        for child in t.get_children():
            names.update(s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced())
            walk(child)

    walk(table)
    return names - set(dir(builtins))


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node):
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_FunctionDef(self, node):
        node.name = self.names.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_arg(self, node):
        node.arg = self.names.get(node.arg, node.arg)
        return node


def _used_names(node: ast.AST) -> set[str]:
    return ({n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            | {n.arg for n in ast.walk(node) if isinstance(n, ast.arg)}
            | {n.name for n in ast.walk(node) if isinstance(n, ast.FunctionDef)})


def _signature(stub: Stub) -> ast.arguments:
    return copy.deepcopy(stub.node.args)


def _wrapper(stub: Stub, target: str, arguments: dict[str, str], params: list[tuple[str, bool]]) -> ast.FunctionDef:
    """``def stub(<stub's parameters>): return target(<what each parameter of target receives>)``."""
    positional, keywords, in_order = [], [], True
    for q, _ in params:
        received = arguments.get(q)
        if received is None:
            in_order = False
        elif in_order and not received.startswith(("'", '"')):
            positional.append(received)
        else:
            in_order = False
            keywords.append(f"{q}={received}")
    for q, received in arguments.items():
        if q not in dict(params):
            keywords.append(f"{q}={received}")
    rest = [s for s, _ in stub.params if s not in arguments.values()]
    if rest and in_order:   # a shown function with *args takes the stub's other parameters there
        positional += rest
    node = ast.parse(f"def {stub.name}():\n    return {target}({', '.join(positional + keywords)})").body[0]
    node.args = _signature(stub)
    node.decorator_list = copy.deepcopy(stub.node.decorator_list)
    return node


def _direct(stub: Stub, shown: Shown, arguments: dict[str, str]) -> ast.FunctionDef | None:
    """The shown function's body under the stub's name and signature, its parameters renamed to the
    stub's (None where a new name would clash with a name the body already uses)."""
    node = copy.deepcopy(shown.node)
    renames = {q: s for q, s in arguments.items() if not s.startswith(("'", '"')) and q != s}
    renamed_away = set(renames)
    if any(s in _used_names(node) - renamed_away for s in renames.values()):
        return None
    unused = {s for s, _ in stub.params} - set(arguments.values())
    if unused & global_names(node):   # a stub parameter that receives nothing would hide a global
        return None
    node = _Rename(renames).visit(node)
    args = _signature(stub)
    stub_names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    # The shown function's parameters that receive nothing stay, with their defaults, at the end.
    first_default = len(shown.node.args.posonlyargs + shown.node.args.args) - len(shown.node.args.defaults)
    for i, a in enumerate(shown.node.args.posonlyargs + shown.node.args.args):
        if a.arg not in arguments and a.arg not in stub_names and i >= first_default:
            if args.vararg or args.kwarg or args.kwonlyargs:
                return None
            args.args.append(ast.arg(a.arg))
            args.defaults.append(copy.deepcopy(shown.node.args.defaults[i - first_default]))
    literals = [ast.parse(f"{q} = {v}").body[0] for q, v in arguments.items() if v.startswith(("'", '"'))]
    body = node.body
    docstring = body[:1] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else []
    node.body = docstring + literals + body[len(docstring):]
    node.args = args
    node.name = stub.name
    if stub.node.decorator_list:   # the stub's `@cuda.jit`, say; else the shown function's own
        node.decorator_list = copy.deepcopy(stub.node.decorator_list)
    return node


def _rename_globals(node: ast.AST, renames: dict[str, str]) -> ast.AST:
    """``node`` with the module-level names in ``renames`` renamed (its own name too, for a def)."""
    own = {node.name} if isinstance(node, ast.FunctionDef) else set()
    return _Rename({k: v for k, v in renames.items() if k in global_names(node) | own}).visit(node)


def paste(stub: Stub, match: Match, taken: set[str]) -> list[ast.stmt] | None:
    """The statements that replace ``stub``: for a library function a wrapper; for a lesson function
    or kernel its source, with the helpers, constants and imports of its lesson that it needs
    (None for a kernel whose body clashes with the stub's parameter names: it cannot be wrapped).
    ``taken``: the names the problem set binds (a pasted helper of the same name is renamed)."""
    shown = match.shown
    if shown.node is None:
        module = shown.call.rsplit(".", 1)[0]
        return [ast.parse(f"import {module}").body[0], _wrapper(stub, shown.call, match.arguments, shown.params)]
    main = _direct(stub, shown, match.arguments)
    needed_defs = {}
    if main is None and stub.kernel:
        return None
    if main is None:   # the body clashes with the stub's names: paste it whole and call it
        own = COPIED + shown.name if shown.name in taken else shown.name
        main = _wrapper(stub, own, match.arguments, shown.params)
        needed_defs[shown.name] = shown.node
    else:
        own = stub.name
    source = shown.source
    imports, constants, set_constants = {}, {}, {}
    pending, seen = [main, *needed_defs.values()], set()
    while pending:
        for name in sorted(global_names(pending.pop())):
            if name in seen or name == shown.name:
                continue
            seen.add(name)
            if name in source.defs:
                needed_defs[name] = source.defs[name]
                pending.append(source.defs[name])
            elif name in source.constants:
                same = [t for t in sorted(taken) if t.lower() == name.lower()]
                if same:   # the problem set fixes this constant itself (`TILE = 8`): use the set's
                    set_constants[name] = same[0]
                    continue
                constants[name] = source.constants[name]
                pending.append(source.constants[name])
            elif name in source.imports and name not in taken:
                imports[name] = source.imports[name]
    renames = {**{n: COPIED + n for n in [*needed_defs, *constants] if n in taken}, **set_constants,
               shown.name: own}
    statements = [ast.parse(text).body[0] for text in imports.values()]
    for statement in [*{id(c): c for c in constants.values()}.values(), *needed_defs.values()]:
        statements.append(_rename_globals(copy.deepcopy(statement), renames))
    main = _rename_globals(main, renames)
    main.name = stub.name
    return statements + [main]


def _bound_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        names.update(_import_statements(node))
        names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return names


def _parsed(cell) -> ast.Module | None:
    try:
        return ast.parse(cell.source)
    except SyntaxError:
        return None


def _is_stub(node: ast.FunctionDef) -> bool:
    """A function the student is to write: nbgrader left ``raise NotImplementedError()`` in it."""
    return any(isinstance(n, ast.Raise) and n.exc is not None and "NotImplementedError" in ast.unparse(n.exc)
               for n in ast.walk(node))


def solution_cells(notebook) -> list:
    return [c for c in notebook.cells if c.cell_type == "code" and is_solution(c)]


def copier_submission(release, shown: list[Shown]) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The release with every stub replaced by the shown code that a copier would paste; and, per
    stub, what was pasted into it (or that it was left as released)."""
    notebook = copy.deepcopy(release)
    taken = set()
    for cell in notebook.cells:
        tree = _parsed(cell) if cell.cell_type == "code" else None
        if tree is not None:
            taken |= _bound_names(tree)
    pasted = {}
    for cell in solution_cells(notebook):
        tree = _parsed(cell)
        if tree is None:
            continue
        emitted: set[str] = set()   # a helper or import pasted once per cell, before its first use
        replacements = []
        for node in [n for n in tree.body if isinstance(n, ast.FunctionDef) and _is_stub(n)]:
            stub = stub_of(node)
            match = match_stub(stub, shown)
            statements = paste(stub, match, taken) if match else None
            pasted[stub.name] = match.shown.label if statements else LEFT
            if not statements:
                continue
            taken |= _bound_names(ast.Module(body=statements, type_ignores=[]))   # later pastes keep clear
            *context, main = [ast.unparse(s) for s in statements]
            texts = [t for t in dict.fromkeys(context) if t not in emitted] + [main]
            emitted.update(context)
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            replacements.append((start, node.end_lineno, "\n\n\n".join(texts).splitlines()))
        lines = cell.source.splitlines()
        for start, end, new_lines in reversed(replacements):
            lines[start:end] = new_lines
        if replacements:
            cell.source = "\n".join(lines)
    return notebook, pasted


# ---------------------------------------------------------------------------------------------
# The matcher, on its own


def _lesson(name: str, source: str) -> list[Shown]:
    return functions_of_cells(["%matplotlib inline\nx = 1", textwrap.dedent(source)], f"lessons/{name}")


def _stub(source: str) -> Stub:
    return stub_of(ast.parse(textwrap.dedent(source)).body[0])


LESSON = _lesson("99_demo.ipynb", '''
    def relu_forward(x):
        return x.clamp(min=0)
    def relu_backward(dy, x):
        return dy * (x > 0)
    def linear_backward(dy, x, W):
        return dy @ W, dy.T @ x, dy.sum(dim=0)
    def softmax_cross_entropy_forward(z, y):
        return z
    def softmax_cross_entropy_backward(p, y):
        return p
    def matmul_tiled(a, b, tile=64):
        return _tiles(a, b, tile)
    def _tiles(a, b, tile):
        return a * b
    def amdahl_speedup(n, s):
        return 1.0 / (s + (1.0 - s) / n)
    TILE = 4
    SCALE = 10.0
    def scaled_sum(x, y):
        return SCALE * (x + y) + TILE
    def matmul_intensity(n, bytes_per_element=4):
        return n / (3 * bytes_per_element)
    def ring_allreduce(buffers):
        return buffers
    @cuda.jit
    def naive_matmul(a, b, c):
        pass
''')
LIBRARY = [Shown("percentiles", "dlparallel.timing", [("samples", False), ("qs", True)],
                 call="dlparallel.timing.percentiles"),
           Shown("mlp", "dlparallel.models", [("widths", False), ("activation", True)], call="dlparallel.models.mlp"),
           Shown("global_reads", "dlparallel.kernels", [("m", False), ("n", False), ("k", False), ("kernel", True),
                                                         ("tile", True)],
                 literals={"kernel": ("naive", "tiled")}, call="dlparallel.kernels.global_reads"),
           Shown("pick_device", "dlparallel.devices", [("requested", True)], call="dlparallel.devices.pick_device")]


def _matched(stub_source: str) -> str | None:
    match = match_stub(_stub(stub_source), LESSON + LIBRARY)
    return match and match.shown.name


def test_matcher_takes_the_same_function_under_its_obvious_renames():
    assert _matched("def relu_backward(grad_out, x): pass") == "relu_backward"
    assert _matched("def relu_bwd(grad, inputs): pass") == "relu_backward"
    assert _matched("def tiled_matmul(A, B, tile=32): pass") == "matmul_tiled"
    assert _matched("def softmax_cross_entropy(logits, labels): pass") == "softmax_cross_entropy_forward"
    assert _matched("def softmax_cross_entropy_backward(logits, labels): pass") == "softmax_cross_entropy_backward"
    assert _matched("def latency_percentiles(samples, qs=(50, 90, 99)): pass") == "percentiles"
    assert _matched("def global_reads_naive(m, n, k): pass") == "global_reads"


def test_matcher_leaves_unrelated_or_unfitting_names_alone():
    for stub in ["def shard(x, y, workers): pass", "def predict(params, images): pass",
                 "def train_mlp(train, hidden=64, epochs=30): pass", "def bound(flops, bytes_, peak, bw): pass",
                 "def layer_norm_backward(grad_out, x, gamma): pass", "def blocks_for(n, threads_per_block): pass",
                 "def tanh_backward(grad_out, x): pass"]:
        assert _matched(stub) is None, stub
    # The name fits but the parameters do not: the lesson's intensity is for square matrices only.
    assert _matched("def matmul_intensity(m, n, k, bytes_per_element=4): pass") is None
    # A kernel only for a kernel, and a kernel never for a plain function.
    assert _matched("@cuda.jit\ndef matmul_naive_kernel(a, b, c): pass") == "naive_matmul"
    assert _matched("def matmul_naive(a, b, c): pass") is None


def test_arguments_follow_the_names_where_they_say_the_order():
    match = match_stub(_stub("def amdahl_speedup(serial_fraction, workers): pass"), LESSON)
    assert match.arguments == {"s": "serial_fraction", "n": "workers"}
    match = match_stub(_stub("def global_reads_tiled(m, n, k, tile): pass"), LIBRARY)
    assert match.arguments == {"kernel": "'tiled'", "m": "m", "n": "n", "k": "k", "tile": "tile"}


def _cell(source: str, grade_id: str = "answer"):
    cell = nbformat.v4.new_code_cell(textwrap.dedent(source))
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True, "grade": False}
    return cell


def test_pasted_code_runs_under_the_stubs_names():
    release = nbformat.v4.new_notebook(cells=[
        _cell("import math\n\ntile = 3"),
        _cell('''
            def amdahl_speedup(serial_fraction, workers):
                """Speedup."""
                # YOUR CODE HERE
                raise NotImplementedError()


            def tiled_matmul(A, B, tile=2):
                raise NotImplementedError()


            def latency_percentiles(samples, qs=(50,)):
                raise NotImplementedError()


            def sum_scaled(a, b):
                raise NotImplementedError()


            def _tiles(x):
                return "the problem set's own helper"
            '''),
        _cell("def shard(x, workers):\n    raise NotImplementedError()\n"),
        _cell("@cuda.jit\ndef matmul_naive_kernel(a, b, c):\n    raise NotImplementedError()\n")])
    release.cells[0].metadata["nbgrader"]["solution"] = False
    submission, pasted = copier_submission(release, LESSON + LIBRARY)
    assert pasted == {"amdahl_speedup": "lessons/99_demo.ipynb:amdahl_speedup",
                      "tiled_matmul": "lessons/99_demo.ipynb:matmul_tiled",
                      "latency_percentiles": "dlparallel.timing:percentiles",
                      "sum_scaled": "lessons/99_demo.ipynb:scaled_sum", "shard": "left as released",
                      "matmul_naive_kernel": "lessons/99_demo.ipynb:naive_matmul (kernel)"}
    assert submission.cells[3].source == "@cuda.jit\ndef matmul_naive_kernel(a, b, c):\n    pass"
    code = submission.cells[1].source
    assert "def _copied__tiles(a, b, tile)" in code and "return _copied__tiles(A, B, tile)" in code, code
    assert "return dlparallel.timing.percentiles(samples, qs)" in code, code
    assert submission.cells[2].source == release.cells[2].source
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["amdahl_speedup"](0.5, 4) == pytest.approx(1 / (0.5 + 0.5 / 4))
    assert namespace["tiled_matmul"](3, 4) == 12 and namespace["_tiles"](0) == "the problem set's own helper"
    assert namespace["latency_percentiles"]([1.0, 2.0, 3.0], qs=(50, 100)) == {50: 2.0, 100: 3.0}
    # The lesson's constants come along, except one the problem set fixes itself (TILE, as `tile`).
    assert "SCALE = 10.0" in code and "TILE" not in code and namespace.get("tile") is None
    namespace["tile"] = 3
    assert namespace["sum_scaled"](1, 2) == 33


def test_shown_functions_cover_lessons_library_and_kernels():
    shown = {(f.origin, f.name): f for f in shown_functions()}
    assert ("lessons/02_backpropagation.ipynb", "relu_backward") in shown
    assert ("dlparallel.timing", "percentiles") in shown and ("dlparallel.flops", "matmul_flops") in shown
    assert shown[("dlparallel.kernels", "tiled_matmul")].kernel
    constants = shown[("dlparallel.kernels", "tiled_matmul")].source.constants.values()
    assert "tile = 16" in [ast.unparse(c) for c in constants]
    assert not any(origin.startswith("dlparallel.grading") for origin, _ in shown)


# ---------------------------------------------------------------------------------------------
# The copier's grade, for every problem set


@pytest.fixture(scope="module")
def copied(released, tmp_path_factory):
    """Per problem set: a course directory with the copier's submission, autograded (a submission
    with nothing pasted is the release itself, which scores 0 (tests/test_grading.py): not graded)."""
    shown = shown_functions()
    roots, pasted = {}, {}
    for ps in PROBLEM_SETS:
        roots[ps] = root = course_of(released, ps, tmp_path_factory.mktemp(f"copier_{ps}"))
        release = nbformat.read(root / "release" / ps / f"{ps}.ipynb", as_version=4)
        submission, pasted[ps] = copier_submission(release, shown)
        folder = root / "submitted" / STUDENT / ps
        folder.mkdir(parents=True)
        nbformat.write(submission, folder / f"{ps}.ipynb")
    graded = [ps for ps in roots if any(what != LEFT for what in pasted[ps].values())]
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as pool:
        summaries = dict(zip(graded, pool.map(lambda ps: _run(
            [sys.executable, "-m", "dlparallel.grading", "autograde", ps,
             f"--set=GuardedExecute.timeout={CELL_TIMEOUT_S}", f"--student={STUDENT}"], roots[ps]), graded)))
    return {ps: {"root": root, "pasted": pasted[ps], "summary": summaries.get(ps)} for ps, root in roots.items()}


@pytest.mark.timeout(600, func_only=True)  # the grading (set-up) has its own time limits
@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_copying_shown_code_earns_at_most_a_tenth_of_the_points(copied, ps):
    source = nbformat.read(ROOT / "source" / ps / f"{ps}.ipynb", as_version=4)
    points = autograded_points(source)
    pasted = copied[ps]["pasted"]
    if copied[ps]["summary"] is None:
        assert all(what == LEFT for what in pasted.values())
        return   # nothing to paste: the copier hands in the release, which earns nothing
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in copied[ps]["summary"].splitlines() if line.strip()}
    assert rows.get((STUDENT, ps), ["missing"])[0] == "graded", copied[ps]["summary"]
    scores = _scores(copied[ps]["root"], ps, STUDENT)
    earned, total = sum(scores[g] or 0 for g in points), sum(points.values())
    lines = []
    for cell in source.cells:
        name = grade_id(cell)
        if name in points:
            uses = [f"{stub} <- {pasted[stub]}" for stub in pasted if re.search(rf"\b{re.escape(stub)}\b", cell.source)]
            lines.append(f"  {name}: {scores[name] or 0:g} of {points[name]:g}"
                         + (f"  [{'; '.join(uses)}]" if uses else ""))
    left = [stub for stub, what in pasted.items() if what == LEFT]
    assert earned <= MAX_FRACTION * total, (
        f"{ps}: a student who only pastes the lessons' and dlparallel's functions under the stubs' names "
        f"earns {earned:g} of {total:g} autograded points ({earned / total:.0%}; at most {MAX_FRACTION:.0%} "
        f"allowed). Per test cell (stub <- pasted function):\n" + "\n".join(lines)
        + f"\n  stubs no shown function resembles (left as released): {', '.join(left) or 'none'}"
        + "\nAsk for what the shown code does not do, or test it on cases the shown code gets wrong.")
