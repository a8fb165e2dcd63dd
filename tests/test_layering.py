"""The layers of jetimg, read from the source with ``ast`` (nothing is imported).

Every ``import`` and ``from ... import`` of every module of jetimg/ and
cli/jetimg_cli/ counts, at module level or inside a function alike:

* the kernels (jetimg/kernels/) import nothing of jetimg but jetimg.kernels,
  jetimg.errors and jetimg.outputs, so they compile and run without the
  pipeline, the readers or the recipe;
* the readers and stores (jetimg/io/) import nothing of jetimg.pipeline,
  jetimg.train, jetimg.plots or jetimg.integrity, which are built on them;
* the streams (jetimg/streams/) import neither Keras nor PyTorch nor the
  trainers built on them (jetimg.train, jetimg.torch); neither trainer imports
  the other, and no private name (``_x``) of another package crosses into
  them;
* nothing under jetimg/ imports the command line (jetimg_cli);
* no import cycle among jetimg's modules (the failure names each one's path);
* no test module imports another (shared helpers live in tests/helpers.py,
  fixtures in tests/conftest.py);
* CONTRIBUTING.md's layout block names what is there: every path in its
  first column exists, every module it names is in that folder, and every
  package and module of jetimg/ and cli/jetimg_cli/ is named.

Modules loaded by name at run time (``importlib.import_module`` in
jetimg/__init__.py's lazy attributes) are not imports here.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: folder whose children are top-level packages -> the packages read in it
SOURCES = {ROOT: ("jetimg",), ROOT / "cli": ("jetimg_cli",)}

KERNEL_ALLOWED = ("jetimg.kernels", "jetimg.errors", "jetimg.outputs")
IO_FORBIDDEN = ("jetimg.pipeline", "jetimg.train", "jetimg.plots", "jetimg.integrity")
STREAMS_FORBIDDEN = ("jetimg.train", "jetimg.torch", "jetimg.plots", "keras", "torch", "jax")


# ---------------------------------------------------------------------------
# reading imports and finding cycles
# ---------------------------------------------------------------------------

def module_files():
    """Dotted module name -> path, for every .py file of the packages in SOURCES."""
    found = {}
    for base, packages in SOURCES.items():
        for package in packages:
            for path in sorted((base / package).rglob("*.py")):
                parts = list(path.relative_to(base).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = path
    return found


def is_within(name, prefix):
    """Whether dotted ``name`` is ``prefix`` or inside it (``jetimg.io.x`` in ``jetimg.io``)."""
    return name == prefix or name.startswith(prefix + ".")


def imported_names(source, module, is_package=False):
    """Dotted names that ``source`` (the text of ``module``) imports, anywhere in it.

    ``from P import a`` gives ``P.a`` (``a`` may be a module; :func:`resolve`
    falls back to ``P`` when it is not); relative imports are resolved against
    ``module`` (a package's ``__init__`` when ``is_package``).
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 >= len(package):
                    raise ValueError(f"{module}: relative import beyond the top package")
                base = package[:len(package) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            names += [f"{base}.{alias.name}" if alias.name != "*" else base
                      for alias in node.names]
    return names


def resolve(name, modules):
    """The module of ``modules`` that the dotted ``name`` is or is in (``P.a`` where
    ``a`` is a function of ``P`` gives ``P``); None for names outside them."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(files=None):
    """module -> sorted modules of jetimg and jetimg_cli that it imports (itself left out)."""
    files = module_files() if files is None else files
    graph = {}
    for module, path in files.items():
        names = imported_names(path.read_text(), module, path.name == "__init__.py")
        targets = {resolve(name, files) for name in names}
        graph[module] = sorted(t for t in targets if t is not None and t != module)
    return graph


def find_cycles(graph):
    """One cycle per strongly connected component of ``graph`` (node -> successors)
    that has one: each a path ``[a, b, ..., a]``, sorted, shortest found first."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = [0]

    def connect(start):  # Tarjan's algorithm, without recursion
        work = [(start, iter(graph.get(start, ())))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter[0]
                    counter[0] += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(graph.get(succ, ()))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)

    cycles = []
    for component in components:
        start = min(component)
        if len(component) == 1 and start not in graph.get(start, ()):
            continue
        # breadth-first from start back to start, inside the component
        previous, frontier, path = {}, [start], None
        while frontier and path is None:
            following = []
            for node in frontier:
                for succ in sorted(graph.get(node, ())):
                    if succ == start:
                        path = [start]
                        while node != start:
                            path.append(node)
                            node = previous[node]
                        path = [start] + path[1:][::-1] + [start]
                        break
                    if succ in component and succ not in previous:
                        previous[succ] = node
                        following.append(succ)
                if path is not None:
                    break
            frontier = following
        cycles.append(path)
    return sorted(cycles, key=lambda c: (len(c), c))


def describe(cycles):
    return "; ".join(" -> ".join(cycle) for cycle in cycles)


# ---------------------------------------------------------------------------
# the reader and the cycle finder, on small made-up inputs
# ---------------------------------------------------------------------------

def test_imports_read_relative_absolute_and_inside_functions():
    source = (
        "import os, numpy as np\n"
        "from . import metrics\n"
        "from .io.stores import open_store\n"
        "from ..errors import InputError\n"
        "import jetimg.io.readers\n"
        "def f():\n"
        "    from .plots import training\n"
        "    class A:\n"
        "        def g(self):\n"
        "            import jetimg_cli.main\n"
    )
    assert sorted(imported_names(source, "jetimg.sub.mod")) == [
        "jetimg.errors.InputError", "jetimg.io.readers", "jetimg.sub.io.stores.open_store",
        "jetimg.sub.metrics", "jetimg.sub.plots.training", "jetimg_cli.main", "numpy", "os"]
    with pytest.raises(ValueError, match="beyond the top package"):
        imported_names("from ... import x\n", "jetimg.mod")
    # in a package's __init__, "." is the package itself
    assert imported_names("from .errors import X\nfrom . import io\n", "jetimg", True) == \
        ["jetimg.errors.X", "jetimg.io"]
    modules = {"jetimg", "jetimg.errors", "jetimg.io", "jetimg.io.store.stores"}
    assert resolve("jetimg.io.store.stores.open_store", modules) == "jetimg.io.store.stores"
    assert resolve("jetimg.errors.InputError", modules) == "jetimg.errors"
    assert resolve("jetimg.Recipe", modules) == "jetimg"
    assert resolve("numpy.linalg", modules) is None


def test_cycle_finder_finds_a_planted_cycle_and_names_its_path():
    acyclic = {"a": ["b", "c"], "b": ["c", "d"], "c": ["d"], "d": [], "e": ["a"]}
    assert find_cycles(acyclic) == []
    planted = {**acyclic, "d": ["f"], "f": ["b"]}          # b -> d -> f -> b
    assert find_cycles(planted) == [["b", "d", "f", "b"]]
    # a longer way round (b -> c -> d -> f -> b) is in the same component: one cycle, the shortest
    assert describe(find_cycles(planted)) == "b -> d -> f -> b"
    two = {"x": ["y"], "y": ["x"], "p": ["p"], "q": ["r"], "r": []}
    assert find_cycles(two) == [["p", "p"], ["x", "y", "x"]]
    chain = {str(i): [str(i + 1)] for i in range(5000)}     # deep: no recursion limit
    chain["5000"] = ["0"]
    (cycle,) = find_cycles(chain)
    assert len(cycle) == 5002 and cycle[0] == cycle[-1] == "0"


def test_graph_of_a_made_up_package_with_a_function_level_cycle(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    files = {
        "pkg/__init__.py": "from .a import f\n",
        "pkg/a.py": "import numpy\nfrom pkg.sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def g():\n    from ..a import f\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = {"pkg": tmp_path / "pkg/__init__.py", "pkg.a": tmp_path / "pkg/a.py",
             "pkg.sub": tmp_path / "pkg/sub/__init__.py", "pkg.sub.b": tmp_path / "pkg/sub/b.py"}
    graph = import_graph(found)
    assert graph == {"pkg": ["pkg.a"], "pkg.a": ["pkg.sub.b"], "pkg.sub": [],
                     "pkg.sub.b": ["pkg.a"]}
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]


# ---------------------------------------------------------------------------
# jetimg's layers
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graph():
    files = module_files()
    # the packages are where these tests expect them
    assert {"jetimg", "jetimg.kernels", "jetimg.io", "jetimg_cli.main"} <= set(files)
    return import_graph(files)


def violations(graph, sources, allowed):
    """``module -> target`` for each import by a module within ``sources`` of a jetimg
    module for which ``allowed(target)`` is False."""
    return [f"{module} -> {target}" for module, targets in sorted(graph.items())
            if any(is_within(module, s) for s in sources)
            for target in targets if not allowed(target)]


def test_kernels_import_only_kernels_errors_and_outputs(graph):
    bad = violations(graph, ["jetimg.kernels"],
                     lambda t: not is_within(t, "jetimg")
                     or any(is_within(t, ok) for ok in KERNEL_ALLOWED))
    assert bad == [], "the kernels import more of jetimg than " + ", ".join(KERNEL_ALLOWED) + \
        ": " + "; ".join(bad)


def test_io_imports_nothing_built_on_it(graph):
    bad = violations(graph, ["jetimg.io"],
                     lambda t: not any(is_within(t, no) for no in IO_FORBIDDEN))
    assert bad == [], "jetimg.io imports what is built on it: " + "; ".join(bad)


def test_streams_are_framework_free_and_the_trainers_wrap_them(graph):
    files = module_files()
    bad = []
    for module, path in files.items():
        names = imported_names(path.read_text(), module, path.name == "__init__.py")
        if is_within(module, "jetimg.streams"):
            bad += [f"{module} -> {n}" for n in names
                    if any(is_within(n, no) for no in STREAMS_FORBIDDEN)]
        for mine, other in (("jetimg.train", "jetimg.torch"), ("jetimg.torch", "jetimg.train")):
            if is_within(module, mine):
                bad += [f"{module} -> {n}" for n in names if is_within(n, other)]
        if is_within(module, "jetimg.train") or is_within(module, "jetimg.torch"):
            # from P import _x, where P is another package of jetimg
            own = module.split(".")[:2]
            bad += [f"{module} -> {n}" for n in names
                    if is_within(n, "jetimg") and n.split(".")[:2] != own
                    and n.rsplit(".", 1)[-1].startswith("_")
                    and not n.rsplit(".", 1)[-1].startswith("__")]
    assert bad == [], "streams and trainers cross: " + "; ".join(bad)


def test_the_library_never_imports_the_command_line(graph):
    bad = violations(graph, ["jetimg"], lambda t: not is_within(t, "jetimg_cli"))
    assert bad == [], "jetimg imports jetimg_cli: " + "; ".join(bad)


def test_no_import_cycle_among_jetimg_modules(graph):
    library = {m: [t for t in targets if is_within(t, "jetimg")]
               for m, targets in graph.items() if is_within(m, "jetimg")}
    cycles = find_cycles(library)
    assert cycles == [], f"{len(cycles)} import cycle(s): {describe(cycles)}"


def test_no_test_module_imports_another():
    tests = Path(__file__).resolve().parent
    bad = []
    for path in sorted(tests.glob("*.py")):
        module = f"tests.{path.stem}" if path.stem != "__init__" else "tests"
        for name in imported_names(path.read_text(), module, path.stem == "__init__"):
            parts = name.split(".")
            if parts[0] == "tests" and len(parts) > 1 and (
                    parts[1].startswith("test_") or parts[1] in ("conftest", "cuda_checks")):
                bad.append(f"{path.name} imports {name}")
    assert bad == [], "; ".join(bad)


# ---------------------------------------------------------------------------
# CONTRIBUTING.md's layout block
# ---------------------------------------------------------------------------

def layout_entries(text):
    """``path -> description`` of the fenced block under "## Layout of the code": an
    entry starts where a line starts without a space; indented lines continue it."""
    section = text.split("## Layout of the code", 1)[1]
    block = section.split("```", 2)[1]
    entries, path = {}, None
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            path, _, rest = line.partition(" ")
            entries[path] = rest.strip()
        elif path is not None:
            entries[path] += " " + line.strip()
    return entries


def layout_problems(entries, root, packages=("jetimg", "cli/jetimg_cli")):
    """What the entries get wrong about the tree at ``root`` and its ``packages``,
    one string each."""
    problems = []
    for path, text in entries.items():
        where = root / path
        if path.endswith("/"):
            if not where.is_dir():
                problems.append(f"{path} is not a folder")
                continue
            for name in sorted(set(re.findall(r"\b(\w+\.py)\b", text))):
                if not (where / name).is_file():
                    problems.append(f"{path} names {name}, which is not in it")
        elif not where.exists():
            problems.append(f"{path} does not exist")
    for package in packages:
        for folder in sorted({p.parent for p in (root / package).rglob("*.py")}):
            if "__pycache__" in folder.parts:
                continue
            key = folder.relative_to(root).as_posix() + "/"
            named = entries.get(key)
            for module in sorted(folder.glob("*.py")):
                if module.name in ("__init__.py", "_version.py"):
                    continue
                own = module.relative_to(root).as_posix()
                if own in entries or (named is not None and re.search(
                        rf"\b{re.escape(module.name)}\b", named)):
                    continue
                problems.append(f"{own} is not named in the layout"
                                + ("" if named is not None or folder == root / package
                                   else f" (and {key} has no entry)"))
    return problems


def test_layout_block_checker_finds_what_is_wrong(tmp_path):
    for name in ("pkg/a.py", "pkg/sub/b.py", "pkg/sub/c.py", "pkg/top.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    text = ("## Layout of the code\n\n```\npkg/top.py   the top\npkg/sub/     b.py and\n"
            "             d.py, gone\npkg/gone/    nothing\n```\n")
    entries = layout_entries(text)
    assert entries == {"pkg/top.py": "the top", "pkg/sub/": "b.py and d.py, gone",
                       "pkg/gone/": "nothing"}
    assert layout_problems(entries, tmp_path, ("pkg",)) == [
        "pkg/sub/ names d.py, which is not in it", "pkg/gone/ is not a folder",
        "pkg/a.py is not named in the layout", "pkg/sub/c.py is not named in the layout"]
    entries.update({"pkg/a.py": "a", "pkg/sub/": "b.py, c.py"})
    del entries["pkg/gone/"]
    assert layout_problems(entries, tmp_path, ("pkg",)) == []


def test_contributing_layout_names_what_is_there():
    entries = layout_entries((ROOT / "CONTRIBUTING.md").read_text())
    problems = layout_problems(entries, ROOT)
    assert problems == [], "CONTRIBUTING.md's layout block: " + "; ".join(problems)
