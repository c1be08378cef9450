"""The package's layout keeps its promises: layers import downwards, nobody imports privates.

Read from the source with :mod:`ast` (nothing is imported), so a violation is
found whether or not the code path runs in another test.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "convcli"

#: Lowest first: a module may import from its own layer and the ones before it.
LAYERS = ["arithmetic", "models", "engine", "kernels", "images", "teaching", "cluster", "cli"]
#: Modules every layer may use; they import nothing of convcli but errors (and, for
#: the convcli.output package, its own modules: see :func:`is_leaf`).
LEAVES = {"convcli.errors", "convcli.guard", "convcli.output", "convcli.suffixes"}


def is_leaf(module: str) -> bool:
    """A leaf module, or a module of the convcli.output package."""
    return module in LEAVES or module.startswith("convcli.output.")


def leaf_may_import(module: str, target: str) -> bool:
    """What a leaf may import: errors, and its own package's modules."""
    if target == "convcli.errors":
        return True
    package = "convcli.output"
    inside = (package, f"{package}.")
    return module.startswith(inside) and target.startswith(inside)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@functools.cache
def nodes(path: Path) -> tuple[ast.AST, ...]:
    """Every node of a file's syntax tree, parsed once per run (the tests only read them)."""
    return tuple(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))


def resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name a ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def convcli_imports(module: str) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) for every import of a convcli module in ``module``."""
    path = MODULES[module]
    found = []
    for node in nodes(path):
        if isinstance(node, ast.ImportFrom):
            target = resolve(module, path, node)
            if target == "convcli" or target.startswith("convcli."):
                names = [alias.name for alias in node.names]
                # "from . import x" imports the module convcli.<...>.x
                subs = [n for n in names if f"{target}.{n}" in MODULES]
                for sub in subs:
                    found.append((node.lineno, f"{target}.{sub}", []))
                rest = [n for n in names if n not in subs]
                if rest:
                    found.append((node.lineno, target, rest))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("convcli"):
                    found.append((node.lineno, alias.name, []))
    return found


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_another_modules_private_names(module):
    """``from .x import _y`` and ``x._y`` across modules are refused: shared helpers get public names."""
    path = MODULES[module]
    bad = [
        f"line {line}: {name} from {target}"
        for line, target, names in convcli_imports(module)
        for name in names
        if name.startswith("_") and target != module and name != "__version__"
    ]
    aliases = set()  # local names bound to other convcli modules
    for node in nodes(path):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name.startswith("convcli")}
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, path, node)
            aliases |= {a.asname or a.name for a in node.names if f"{target}.{a.name}" in MODULES}
    for node in nodes(path):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            bad.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    assert not bad, f"{module} uses private names of other modules: {bad}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module):
    """arithmetic < engine < kernels < images < teaching < cli; errors and output are leaves."""
    mine = layer(module)
    bad = []
    for line, target, _ in convcli_imports(module):
        if is_leaf(target) or target == "convcli":
            if is_leaf(module) and not leaf_may_import(module, target):
                bad.append(f"line {line}: leaf {module} imports {target}")
            continue
        theirs = layer(target)
        if is_leaf(module) and not leaf_may_import(module, target):
            bad.append(f"line {line}: leaf {module} imports {target}")
        elif mine is not None and theirs is not None and theirs > mine:
            bad.append(f"line {line}: {target} is above {module}")
    assert not bad, bad


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("convcli.cli")))
def test_the_library_never_imports_click(module):
    """Only convcli.cli knows about Click; rich is for the CLI and output.py's renderers."""
    imported = {
        alias.name.split(".")[0]
        for node in nodes(MODULES[module])
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in nodes(MODULES[module])
        if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert "click" not in imported
    if not (module == "convcli.output" or module.startswith("convcli.output.")):
        assert "rich" not in imported


def test_every_subpackage_says_what_it_holds():
    """Each folder's __init__ has a docstring naming its modules, for a newcomer."""
    for name in LAYERS:
        init = PACKAGE / name / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init} has no docstring"
        for module in sorted((PACKAGE / name).glob("*.py")):
            if module.stem.startswith("_") or name == "cli":
                continue
            assert f".{module.stem}" in doc, f"{init} does not mention {module.stem}"


def not_run_at_import(module: str) -> set[int]:
    """Lines whose imports are not a dependency of the module's own code.

    Two kinds: ``if TYPE_CHECKING:`` blocks (read by mypy, never run), and
    Jupyter's display hooks (``_repr_html_``, ``_repr_png_``, ...), which a
    notebook calls on a data object to draw it and which therefore reach up,
    by design, to the drawing layer above the data.
    """
    lines: set[int] = set()
    for node in nodes(MODULES[module]):
        typing_block = isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }
        display_hook = isinstance(node, ast.FunctionDef) and (
            node.name.startswith("_repr_") and node.name.endswith("_")
        )
        if typing_block or display_hook:
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


@functools.cache
def import_graph(type_only: bool = False) -> dict[str, set[str]]:
    """Module -> the convcli modules it imports (anywhere in it, lazily or not).

    With ``type_only``, the imports under ``if TYPE_CHECKING:`` count too
    (and display hooks): mypy reads them, and a reader meets the circle.

    A package's ``__init__`` is not an edge: importing ``a.b`` runs ``a``
    first, but ``a`` importing ``a.b`` back is the package's re-export, not a
    circle of the modules' own code.
    """
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        targets = set()
        skipped = set() if type_only else not_run_at_import(module)
        for line, target, _ in convcli_imports(module):
            if line in skipped:
                continue
            if target in MODULES and target != module and not module.startswith(target + "."):
                targets.add(target)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_a_circle():
    """The checker itself: a → b → a is a circle, a → b → c is not."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


#: Packages whose modules import no circle. With the layers pointing down
#: (above), a circle can only lie inside one package.
ACYCLIC = [
    "convcli.cli",
    "convcli.arithmetic",
    "convcli.engine",
    "convcli.kernels",
    "convcli.images",
    "convcli.teaching",
    "convcli.cluster",
    "convcli.cli.shape",
]


@pytest.mark.parametrize("package", ACYCLIC)
def test_import_graph_is_acyclic(package):
    """No import circle among a package's modules (lazy imports inside functions included)."""
    graph = {
        m: {t for t in targets if t.startswith(package)}
        for m, targets in import_graph().items()
        if m.startswith(package)
    }
    assert find_cycle(graph) is None


#: Packages without a circle even through type-only imports (``if TYPE_CHECKING:``):
#: cli/batch.py and cli/resume.py once imported each other that way.
TYPED_ACYCLIC = ["convcli.cli"]


@pytest.mark.parametrize("package", TYPED_ACYCLIC)
def test_import_graph_is_acyclic_counting_type_only_imports(package):
    """No circle among a package's modules, counting the imports only mypy reads."""
    graph = {
        m: {t for t in targets if t.startswith(package)}
        for m, targets in import_graph(type_only=True).items()
        if m.startswith(package)
    }
    assert find_cycle(graph) is None


def test_limits_reads_no_file():
    """arithmetic/limits.py holds the numbers; reading files is convcli.kernels.reading's job."""
    tree = ast.parse(MODULES["convcli.arithmetic.limits"].read_text(encoding="utf-8"))
    calls = {
        node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not calls & {"open", "read_bytes", "read_text", "fdopen"}
