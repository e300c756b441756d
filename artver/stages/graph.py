"""The pipeline DAG (networkx; the only module that imports it, lazily), checks, drawings."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from functools import cached_property

from artver.errors import ArtverError
from artver.stages.schema import Stage


class GraphError(ArtverError):
    pass


def _inside(path: str, parent: str) -> bool:
    return parent == "" or path == parent or path.startswith(parent + "/")


# A plain class (a dataclass costs start-up time); no __slots__: cached properties need __dict__.
class Pipeline:
    """All stages of a repository and the graph between them.

    The graph is kept as plain data (edges and one topological order). networkx, which
    costs 0.1 s to import, is needed only to derive them (checks, cycle detection, the
    order) and for closures; a caller that cached the derived structure skips it.
    """

    def __init__(
        self,
        stages: dict[str, Stage],
        edges: list[tuple[str, str]],
        full_order: list[str],
        preds: dict[str, list[str]] | None = None,
    ) -> None:
        self.stages = stages
        self.edges = edges  # upstream -> downstream
        self.full_order = full_order
        # Derived from the edges: a `preds` passed in is replaced, as it always was.
        found: dict[str, list[str]] = {name: [] for name in self.stages}
        for upstream, downstream in self.edges:
            found[downstream].append(upstream)
        self.preds = {name: sorted(ups) for name, ups in found.items()}

    @classmethod
    def build(cls, stages: Iterable[Stage], tracked: Iterable[str] = ()) -> Pipeline:
        by_name: dict[str, Stage] = {}
        for stage in stages:
            if stage.name in by_name:
                raise GraphError(
                    f"two stages are named {stage.name} "
                    f"({by_name[stage.name].file} and {stage.file})"
                )
            by_name[stage.name] = stage
        producers = _check_outs(by_name.values(), tracked)
        out_paths = sorted(producers)
        edges = set()
        for stage in by_name.values():
            for dep in stage.deps:
                for upstream in _producers_of(dep, producers, out_paths):
                    if upstream == stage.name:
                        raise GraphError(f"stage {stage.name} depends on its own output {dep}")
                    edges.add((upstream, stage.name))
        graph = _nx_graph(by_name, edges)
        _check_acyclic(graph)
        import networkx as nx

        order = list(nx.lexicographical_topological_sort(graph))
        return cls(by_name, sorted(edges), order)

    @cached_property
    def producers(self) -> dict[str, str]:
        return {out.path: s.name for s in self.stages.values() for out in s.outs}

    @cached_property
    def graph(self):  # networkx.DiGraph, built on first use
        return _nx_graph(self.stages, self.edges)

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """Topological order, ties broken by name (a subset keeps the full order's sequence,
        which is a topological order of the subgraph too)."""
        if names is None:
            return list(self.full_order)
        wanted = set(names)
        return [name for name in self.full_order if name in wanted]

    def upstream_closure(self, names: Iterable[str]) -> set[str]:
        import networkx as nx

        found = set(names)
        for name in list(found):
            found |= nx.ancestors(self.graph, name)
        return found

    def downstream_closure(self, names: Iterable[str]) -> set[str]:
        import networkx as nx

        found = set(names)
        for name in list(found):
            found |= nx.descendants(self.graph, name)
        return found

    def predecessors(self, name: str) -> list[str]:
        return self.preds[name]

    def unproduced_deps(self) -> dict[str, list[str]]:
        """{stage: [deps no stage produces]}; the caller checks whether they exist."""
        producers = self.producers
        out_paths = sorted(producers)
        found: dict[str, list[str]] = {}
        for stage in self.stages.values():
            for dep in stage.deps:
                if not _producers_of(dep, producers, out_paths):
                    found.setdefault(stage.name, []).append(dep)
        return found

    # -- drawings ---------------------------------------------------------------------------
    def _edges_among(self, nodes: list[str]) -> list[tuple[str, str]]:
        wanted = set(nodes)
        return [(a, b) for a, b in self.edges if a in wanted and b in wanted]

    def to_mermaid(self, names: Iterable[str] | None = None) -> str:
        nodes = self.order(names)
        ids = {name: f"n{i}" for i, name in enumerate(nodes)}
        lines = ["flowchart TD"]
        lines += [f'    {ids[n]}["{n}"]' for n in nodes]
        lines += [f"    {ids[a]} --> {ids[b]}" for a, b in self._edges_among(nodes)]
        return "\n".join(lines)

    def to_dot(self, names: Iterable[str] | None = None) -> str:
        nodes = self.order(names)
        lines = ["strict digraph {"]
        lines += [f'    "{n}";' for n in nodes]
        lines += [f'    "{a}" -> "{b}";' for a, b in self._edges_among(nodes)]
        lines.append("}")
        return "\n".join(lines)

    def to_dict(self, names: Iterable[str] | None = None) -> dict[str, list]:
        """`dag --json`: the stages in run order, each with the stages it needs, and the edges."""
        nodes = self.order(names)
        return {
            "stages": [{"name": n, "after": self.predecessors(n)} for n in nodes],
            "edges": [{"from": a, "to": b} for a, b in self._edges_among(nodes)],
        }

    def to_text(self, names: Iterable[str] | None = None) -> str:
        """Each stage after the stages it needs, with its inputs indented under it."""
        nodes = self.order(names)
        lines = []
        for name in nodes:
            before = self.predecessors(name)
            lines.append(name + (f"  <- {', '.join(before)}" if before else ""))
        return "\n".join(lines)


def _nx_graph(stages: Iterable[str], edges: Iterable[tuple[str, str]]):
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(stages)
    graph.add_edges_from(edges)
    return graph


def _check_acyclic(graph) -> None:
    import networkx as nx

    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    names = [edge[0] for edge in cycle] + [cycle[0][0]]
    raise GraphError("the pipeline has a cycle: " + " -> ".join(names))


def _check_outs(stages: Iterable[Stage], tracked: Iterable[str]) -> dict[str, str]:
    producers: dict[str, str] = {}
    for stage in stages:
        for out in stage.outs:
            if out.path in producers:
                other = producers[out.path]
                who = f"stages {other} and {stage.name}" if other != stage.name else stage.name
                raise GraphError(f"{out.path} is an output of {who} more than once")
            producers[out.path] = stage.name
    paths = sorted(producers)
    for path in paths:
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in producers:
                raise GraphError(
                    f"outputs overlap: {path} (stage {producers[path]}) is inside "
                    f"{parent} (stage {producers[parent]})"
                )
    for path in tracked:
        for out in paths:
            if _inside(out, path) or _inside(path, out):
                raise GraphError(
                    f"{out}, an output of stage {producers[out]}, is also tracked by "
                    f"{path}.artver; remove the pointer file or the output"
                )
    return producers


def _producers_of(dep: str, producers: dict[str, str], out_paths: list[str]) -> set[str]:
    """Stages whose outputs are `dep`, contain it, or lie inside it."""
    found = set()
    parts = dep.split("/")
    for i in range(len(parts), 0, -1):  # an out that is dep or a parent of it
        candidate = "/".join(parts[:i])
        if candidate in producers:
            found.add(producers[candidate])
    prefix = dep + "/"  # outs inside dep
    start = bisect.bisect_left(out_paths, prefix)
    for path in out_paths[start:]:
        if not path.startswith(prefix):
            break
        found.add(producers[path])
    return found


def load_library() -> None:
    """Import networkx now (a parent about to fork workers that will all build graphs)."""
    import networkx  # noqa: F401
