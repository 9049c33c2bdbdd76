"""Topological order of named nodes, with the cycle named when there is one."""
from __future__ import annotations

from collections.abc import Mapping, Sequence


class CycleError(ValueError):
    """The dependencies contain a cycle; `cycle` lists it, first node repeated at the end."""

    def __init__(self, cycle: Sequence[str]):
        super().__init__(f"the blocks form a cycle: {' -> '.join(cycle)}")
        self.cycle = list(cycle)


def topological_order(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """Every node after the nodes it depends on, otherwise in the mapping's order.

    `dependencies` maps each node to the nodes it reads; names that are not keys (feature
    groups, outer blocks) are ignored. CycleError names a cycle when there is one.
    """
    order: list[str] = []
    state: dict[str, str] = {}  # node -> "open" while on the path, "done" once placed

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            raise CycleError(path[path.index(node):] + [node])
        state[node] = "open"
        for dependency in dependencies[node]:
            if dependency in dependencies:
                visit(dependency, path + [node])
        state[node] = "done"
        order.append(node)

    for node in dependencies:
        visit(node, [])
    return order


def leaves(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes no other node depends on, in the mapping's order."""
    used = {d for deps in dependencies.values() for d in deps}
    return [node for node in dependencies if node not in used]
