"""No import cycle among the atnet modules, read from their own import statements.

The graph is built from each module's source with ``ast`` (every ``import``
and ``from ... import``, relative ones resolved, at any depth, so imports
inside functions count too), never from a hard-coded list, so a new module
or a new import is checked as soon as it exists. A module that must load
without Caffe is checked the same way, through everything it imports.
"""
import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Modules that must import without pycaffe: the variant declarations, the
#: configuration and the paper checker are used by tools that never build a net.
CAFFE_FREE = ("atnet.variants", "atnet.config", "atnet.paper")


def module_files(root, package):
    """{dotted module name: source path} of every .py file of ``package`` under ``root``."""
    modules = {}
    for folder, _, names in os.walk(os.path.join(root, package)):
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            parts = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = os.path.join(folder, name)
    return modules


def _importing_package(module, path):
    """The package a relative import in ``module`` starts from (itself for an __init__)."""
    if os.path.basename(path) == "__init__.py":
        return module
    return module.rpartition(".")[0]


def imports_of(module, path, modules):
    """[(imported module name, line)] of every import statement in ``module``'s source.

    ``import a.b`` imports ``a.b``; ``from a import b`` imports the module
    ``a.b`` when there is one, else the name ``b`` of module ``a``. Parent
    packages that Python initialises on the way are not edges: a submodule
    of a half-initialised package is an ordinary, working import.
    """
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _importing_package(module, path).split(".")
                base = base[:len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module
            for alias in node.names:
                submodule = origin + "." + alias.name
                found.append((submodule if submodule in modules else origin, node.lineno))
    return found


def import_graph(root, package):
    """{module: {imported module of the package: first line}}, and {module: external top-level imports}."""
    modules = module_files(root, package)
    graph, external = {}, {}
    for module, path in modules.items():
        edges, outside = {}, set()
        for name, line in imports_of(module, path, modules):
            if name in modules:
                if name != module:
                    edges.setdefault(name, line)
            elif name.split(".")[0] != package:
                outside.add(name.split(".")[0])
            else:
                raise AssertionError("%s line %d imports %s, which is not a module of %s"
                                     % (path, line, name, package))
        graph[module], external[module] = edges, outside
    return graph, external


def find_cycles(graph):
    """Every cycle as a list of modules (first == last), one per strongly connected component."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(node):  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(set(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(graph, component) for component in components]


def _one_cycle(graph, component):
    """A concrete path around ``component``, from its first module back to it."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth-first inside the component: the shortest way back to start
        node = queue.pop(0)
        for target in sorted(graph[node]):
            if target == start:
                return paths[node] + [start]
            if target in component and target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    raise AssertionError("not a cycle: %s" % sorted(component))


def describe(graph, cycle):
    """``a (line 3) -> b (line 9) -> a``: each import with the line that makes it."""
    return " -> ".join("%s (line %d)" % (m, graph[m][n]) for m, n in zip(cycle, cycle[1:])) + " -> " + cycle[-1]


def reachable(graph, start):
    """``start`` and every package module it imports, directly or not."""
    seen, todo = {start}, [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_atnet_has_no_import_cycle():
    graph, _ = import_graph(REPO, "atnet")
    assert len(graph) > 20 and sum(map(len, graph.values())) > 40, "the graph lost the atnet modules"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in atnet:\n" + "\n".join(describe(graph, c) for c in cycles)


@pytest.mark.parametrize("module", CAFFE_FREE)
def test_modules_that_need_no_caffe_import_none(module):
    graph, external = import_graph(REPO, "atnet")
    chain = sorted(m for m in reachable(graph, module) if "caffe" in external[m])
    assert not chain, "%s imports caffe through %s" % (module, ", ".join(chain))


def _write(root, relative, text):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def test_the_checker_finds_relative_function_level_and_from_imports(tmp_path):
    """A planted cycle through each import form is found and named with its lines."""
    _write(tmp_path, "pkg/__init__.py", "")
    _write(tmp_path, "pkg/a.py", "import os\nfrom pkg.sub import b\n")
    _write(tmp_path, "pkg/sub/__init__.py", "from . import b\n")
    _write(tmp_path, "pkg/sub/b.py", "def later():\n    from ..c import thing\n    return thing\n")
    _write(tmp_path, "pkg/c.py", "import caffe\nimport pkg.a\nthing = 1\n")
    _write(tmp_path, "pkg/d.py", "from .sub.b import later\n")
    graph, external = import_graph(str(tmp_path), "pkg")
    assert graph["pkg.sub"] == {"pkg.sub.b": 1}
    assert graph["pkg.sub.b"] == {"pkg.c": 2}
    assert graph["pkg.d"] == {"pkg.sub.b": 1}
    assert graph["pkg.a"] == {"pkg.sub.b": 2}
    assert external["pkg.c"] == {"caffe"} and external["pkg.a"] == {"os"}
    cycles = find_cycles(graph)
    assert [describe(graph, c) for c in cycles] == [
        "pkg.a (line 2) -> pkg.sub.b (line 2) -> pkg.c (line 2) -> pkg.a"]
    assert "pkg.c" in reachable(graph, "pkg.d")
