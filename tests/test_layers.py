"""
The package's layout: no import circles among its modules, imports inside
functions counted, and no module longer than the agreed size.  The layer
order itself is the import-linter contract in ``pyproject.toml`` (run by CI
as ``lint-imports``); a circle inside one layer would pass that contract, so
it is checked here.
"""

import os

import pytest

grimp = pytest.importorskip("grimp")

PKG = "statsmodels_glmm"
ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PKG)
MAX_LINES = 800


def _cycles(graph, skip=()):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(set(graph.modules) - set(skip))
    succ = {m: sorted(set(graph.find_modules_directly_imported_by(m)) - set(skip))
            for m in modules}
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter[0]
                counter[0] += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            for j in range(i, len(succ[node])):
                nxt = succ[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def test_cycle_finder_finds_a_planted_circle():
    class Graph:
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, m):
            return self.edges[m]

    assert _cycles(Graph()) == [["a", "b", "c"]]


def test_no_import_circles():
    graph = grimp.build_graph(PKG)
    # the package root only re-exports; every other module counts
    assert _cycles(graph, skip=[PKG]) == []


def test_modules_stay_short():
    long = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path) as fh:
                    n = sum(1 for _ in fh)
                if n > MAX_LINES:
                    long[os.path.relpath(path, ROOT)] = n
    assert long == {}
