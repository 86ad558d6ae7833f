"""Topology checks: does a compiled circuit have a well-defined DC operating point?

:func:`check_topology` looks only at the circuit *graph* (which node touches
which element), never at values, and raises
:class:`~circuitlearn.errors.TopologyError` whose message names the offending
nodes and elements.  When the :class:`~circuitlearn.netlist.model.Netlist` the
circuit came from is passed, the error also carries the ``file:line`` of one
element involved.  Flattened subcircuit names (``x1.mid``, ``r.x1.r1``) are
treated as opaque strings, so they are reported exactly as the user's
simulator (ngspice) would name them.

The checks, in the order they are made:

1. **Ground** -- at least one element terminal that can carry current
   (R, D, V, I, E or G *outputs*; not the E/G control inputs, which draw no
   current) is node ``0``.
2. **Shorted voltage sources** -- a V source or an E output whose two
   terminals are the same node (``V1 a a 1``) forces ``0 = value``.
3. **Loops of voltage sources** -- a closed loop made only of V sources and
   E outputs (two V sources in parallel included) over-determines the loop
   voltage: the MNA matrix is singular whatever the values.  The error names
   the sources around the loop.
4. **Floating islands** -- every node needs a DC path to ground through
   resistors, diodes, V sources or E outputs.  A node set whose only links to
   the rest are current sources (I, or G outputs) is reported as a *current
   source cut-set*, naming the current sources: Kirchhoff's current law then
   fixes the net current into the set while nothing fixes its potential.

Diodes and floating nodes
-------------------------
By default (``diode_paths=True``) a diode counts as a DC path.  That is what
ngspice does: a Shockley diode's I(V) is strictly monotone, so a node reached
only through diodes still has a unique operating point.  circuitlearn's
*ideal* diode (``vth``) is different: a node tied to the rest only through an
ideal diode that happens to be off has no determined potential.  Solvers of the
ideal-diode model that need every node to be resistively anchored call
``check_topology(circuit, diode_paths=False)``, which requires a path through
resistors and voltage sources only.

Current sources whose two terminals are the same node are accepted (the
current circulates inside the source; ngspice does the same); a current source
in parallel with a voltage source is fine too.

Cost: near-linear in the number of elements.  Connected components are labelled by
:func:`components` (hooking and pointer jumping in numpy: a few vectorised rounds,
0.6 s for 10^6 nodes, on par with scipy's csgraph, and without its 0.3 s import, so
that ``circuitlearn check`` of a small deck starts fast); networkx is imported only
when a loop of voltage sources exists, to find and name it.
"""
from __future__ import annotations

import numpy as np

from circuitlearn.errors import TopologyError

#: At most this many node names are listed in a message (then "... and N more").
MAX_LISTED = 12


def check_topology(circuit, netlist=None, *, diode_paths: bool = True) -> None:
    """Raise :class:`TopologyError` unless ``circuit`` has a well-posed DC problem.

    Parameters
    ----------
    circuit : Circuit
        The compiled circuit (node 0 is ground).
    netlist : Netlist, optional
        The netlist it was compiled from; used only to locate an element
        involved (``file:line``) in the error.
    diode_paths : bool
        Whether a diode counts as a DC path to ground (see module docstring).
    """
    where = _Locator(netlist)
    _check_ground(circuit, where)
    vedges, vnames = _voltage_edges(circuit)
    _check_shorted(circuit, vedges, vnames, where)
    _check_source_loops(circuit, vedges, vnames, where)
    _check_islands(circuit, vedges, diode_paths, where)


# --------------------------------------------------------------------- helpers
class _Locator:
    """Finds the source location of elements by name (only used on the error path)."""

    def __init__(self, netlist):
        self.netlist = netlist

    def error(self, reason: str, element_names=()) -> TopologyError:
        if self.netlist is not None:
            wanted = list(element_names)
            wset = set(wanted)
            locs = {e.name: e.loc for e in self.netlist.elements if e.name in wset}
            for name in wanted:
                loc = locs.get(name)
                if loc is not None:
                    return TopologyError(reason, loc.file, loc.line, loc.text or None)
        return TopologyError(reason, self.file())

    def file(self):
        """The deck's file (for errors about the whole deck), when known."""
        if self.netlist is not None:
            for e in self.netlist.elements:
                if e.loc is not None and e.loc.file:
                    return e.loc.file
        return None


def _listing(names) -> str:
    names = list(names)
    shown = ", ".join(names[:MAX_LISTED])
    if len(names) > MAX_LISTED:
        shown += f", ... and {len(names) - MAX_LISTED} more"
    return shown


def _voltage_edges(circuit):
    """(edges int64[k, 2], names) of the voltage-defining branches: V sources then E outputs."""
    edges = np.concatenate([circuit.vsource_nodes.reshape(-1, 2),
                            circuit.vcvs_nodes.reshape(-1, 4)[:, :2]])
    names = tuple(circuit.vsource_names) + tuple(circuit.vcvs_names)
    return edges, names


def _current_edges(circuit):
    """(edges, names) of the current-source branches: I sources then G outputs."""
    edges = np.concatenate([circuit.isource_nodes.reshape(-1, 2),
                            circuit.vccs_nodes.reshape(-1, 4)[:, :2]])
    names = tuple(circuit.isource_names) + tuple(circuit.vccs_names)
    return edges, names


def _check_ground(circuit, where: _Locator) -> None:
    terminals = [circuit.resistor_nodes, circuit.diode_nodes, circuit.vsource_nodes,
                 circuit.isource_nodes, circuit.vcvs_nodes[:, :2], circuit.vccs_nodes[:, :2]]
    if not any(np.any(t == 0) for t in terminals):
        others = _listing(circuit.node_names[1:]) or "(none)"
        raise where.error(
            f"no ground: no element is connected to node 0 (ground), so no node potential "
            f"is fixed; nodes: {others}")


def _check_shorted(circuit, vedges, vnames, where: _Locator) -> None:
    bad = np.flatnonzero(vedges[:, 0] == vedges[:, 1])
    if bad.size:
        k = int(bad[0])
        node = circuit.node_names[vedges[k, 0]]
        raise where.error(
            f"voltage source {vnames[k]} is shorted: both terminals are node {node}",
            [vnames[k]])


def _check_source_loops(circuit, vedges, vnames, where: _Locator) -> None:
    """A loop of V sources / E outputs exists iff #edges > #nodes - #components."""
    if len(vedges) == 0:
        return
    nodes = np.unique(vedges)
    n_comp, _ = components(circuit.n_nodes, vedges)
    # components among the touched nodes only: untouched nodes are singletons
    n_comp_touched = n_comp - (circuit.n_nodes - nodes.size)
    if len(vedges) <= nodes.size - n_comp_touched:
        return
    import networkx as nx
    g = nx.MultiGraph()
    for k, (a, b) in enumerate(vedges.tolist()):
        g.add_edge(a, b, key=k)
    cycle = nx.find_cycle(g)  # list of (u, v, key); exists by the count above
    srcs = [vnames[key] for _, _, key in cycle]
    loop_nodes = [circuit.node_names[u] for u, _, _ in cycle]
    raise where.error(
        f"loop of voltage sources {_listing(srcs)} through nodes {_listing(loop_nodes)}: "
        f"the loop voltage is over-determined (sources in parallel or in a closed loop)",
        srcs)


def components(n_nodes: int, edges: np.ndarray):
    """``(count, labels)`` of the connected components of an undirected graph of
    ``n_nodes`` nodes and ``edges`` (int[m, 2]); ``labels`` (int64[n_nodes]) numbers the
    components ``0..count-1`` in the order of their smallest node.

    Each round hooks the larger of the two root labels of every edge that still joins
    two trees onto the smaller (so no cycles form), then jumps pointers until every
    node points at its root; edges inside one tree drop out.  A handful of rounds on
    random graphs, grids and long paths alike."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    a, b = edges[:, 0], edges[:, 1]
    root = np.arange(n_nodes, dtype=np.int64)
    while a.size:
        ra, rb = root[a], root[b]
        apart = ra != rb
        if not apart.any():
            break
        ra, rb, a, b = ra[apart], rb[apart], a[apart], b[apart]
        np.minimum.at(root, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
    uniq, labels = np.unique(root, return_inverse=True)
    return int(uniq.size), labels.astype(np.int64)


def _check_islands(circuit, vedges, diode_paths: bool, where: _Locator) -> None:
    parts = [circuit.resistor_nodes, vedges]
    if diode_paths:
        parts.append(circuit.diode_nodes)
    edges = np.concatenate([p.reshape(-1, 2) for p in parts])
    _, labels = components(circuit.n_nodes, edges)
    floating = np.flatnonzero(labels != labels[0])
    if floating.size == 0:
        return
    # report the island containing the first floating node
    island = np.flatnonzero(labels == labels[floating[0]])
    names = [circuit.node_names[i] for i in island]
    in_island = np.zeros(circuit.n_nodes, dtype=bool)
    in_island[island] = True

    cedges, cnames = _current_edges(circuit)
    touching = [cnames[k] for k in np.flatnonzero(
        in_island[cedges[:, 0]] != in_island[cedges[:, 1]])] if len(cedges) else []
    path_kind = "resistors, diodes or voltage sources" if diode_paths else \
        "resistors or voltage sources (diodes not counted)"
    if touching:
        reason = (f"nodes {_listing(names)} are connected to the rest of the circuit only "
                  f"through current sources {_listing(touching)} (a current-source cut-set): "
                  f"their potential is undetermined")
        raise where.error(reason, touching)
    involved = _elements_touching(circuit, in_island)
    touched_by = f"elements {_listing(involved)}" if involved else "no element"
    reason = (f"floating nodes {_listing(names)} ({touched_by}): "
              f"no DC path to ground through {path_kind}")
    raise where.error(reason, involved)


def _elements_touching(circuit, mask: np.ndarray) -> list[str]:
    """Names of the elements with a terminal (control inputs included) in ``mask``."""
    found = []
    for names, nodes in ((circuit.resistor_names, circuit.resistor_nodes),
                         (circuit.diode_names, circuit.diode_nodes),
                         (circuit.vsource_names, circuit.vsource_nodes),
                         (circuit.isource_names, circuit.isource_nodes),
                         (circuit.vcvs_names, circuit.vcvs_nodes),
                         (circuit.vccs_names, circuit.vccs_nodes)):
        if len(names):
            hit = np.flatnonzero(mask[nodes].any(axis=1))
            found.extend(names[k] for k in hit[:MAX_LISTED])
    return found
