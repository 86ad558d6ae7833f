"""ngspice as a solve backend, through PySpice's shared-library mode.

One :class:`NgspiceSession` loads a circuit into the shared ngspice instance
once and then, for every input vector, changes the independent sources with
``alter`` and runs ``op``; result plots are destroyed after reading so memory
does not grow over thousands of runs.  A batch of several vectors is one ngspice run
instead (:meth:`NgspiceSession.op_batch`): every source that varies across the batch
becomes a behavioural source ``pwl(V(idx), 0, s_0, 1, s_1, ...)`` of an index source
swept by ``.dc`` over ``0 .. B-1``, so ngspice solves all samples in one analysis,
each point converged to the same tolerances (the previous point is only its start);
a sweep ngspice cannot finish falls back to the ``alter`` loop.  Batches smaller than
:data:`SWEEP_MIN_BATCH` use the loop: there, loading the sweep deck costs more than it
saves.  ngspice's chatter (``Note:`` lines,
gmin and source stepping) is not an error; real errors are raised as
:class:`~circuitlearn.errors.BackendError` with ngspice's own message.

PySpice and libngspice are imported lazily: the package works without them.
The shared library is looked for as ``libngspice.so`` (Debian package
``libngspice0-dev``), then ``libngspice.so.0`` (``libngspice0``); set
``NGSPICE_LIBRARY_PATH`` to point elsewhere.  ngspice's shared library is not
thread-safe: use processes, not threads, to run several sessions at once.
"""
from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from circuitlearn.errors import BackendError
from circuitlearn.netlist.writer import write_netlist
from circuitlearn.solve.result import STATUS_MESSAGES, SolveResult

#: Simulator options for validation runs (tight tolerances, as in issue 3).
TIGHT_OPTIONS = "reltol=1e-9 vntol=1e-12 abstol=1e-15"
#: element names ngspice takes as they are (others are renamed in the deck it gets)
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")


#: batches at least this large run as one DC sweep: loading the sweep deck costs about as
#: much as 10-20 alter + op runs (measured by experiments/bench_ngspice_batch.py)
SWEEP_MIN_BATCH = 32


def _sweep_reltol(options: str) -> float:
    """The reltol a batched DC sweep runs with: 1000x the session's, at least 1e-13."""
    m = re.findall(r"reltol\s*=\s*([0-9.eE+-]+)", options)
    return max(1e-13, (float(m[-1]) if m else 1e-3) * 1e-3)


def ngspice_options(tol: float | None = None, maxiter: int | None = None) -> str:
    """The ``.options`` line of :func:`solve`'s ``tol`` (ngspice's ``vntol``, V) and
    ``maxiter`` (its DC iteration limit ``itl1``); the tight defaults otherwise."""
    opts = {"reltol": "1e-9", "vntol": "1e-12", "abstol": "1e-15"}
    if tol is not None:
        opts["vntol"] = repr(float(tol))
    if maxiter is not None:
        opts["itl1"] = str(int(maxiter))
    return " ".join(f"{k}={v}" for k, v in opts.items())

_LIBRARY_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libngspice.so",
    "/usr/lib/x86_64-linux-gnu/libngspice.so.0",
    "/usr/lib/aarch64-linux-gnu/libngspice.so",
    "/usr/lib/aarch64-linux-gnu/libngspice.so.0",
    "/usr/lib/libngspice.so", "/usr/lib/libngspice.so.0",
    "/usr/local/lib/libngspice.so", "/usr/local/lib/libngspice.so.0",
)
_MISSING = ("libngspice (ngspice's shared library) was not found; install it with "
            "`apt-get install ngspice libngspice0 libngspice0-dev` or set NGSPICE_LIBRARY_PATH "
            "to the path of libngspice.so")

# stderr lines that are ngspice chatter, not errors
_BENIGN = re.compile(r"^\s*(note:|warning:|trying gmin|supplies reduced|using sparse|"
                     r"reference value|no\. of data rows|doing analysis|circuit:)", re.I)
_SINGULAR = re.compile(r"singular matrix", re.I)
_FATAL = re.compile(r"error|aborted|could not|can't find|cannot|failed|too small|unknown|"
                     r"no such", re.I)

_shared = None  # the one PySpice NgSpiceShared instance of this process
_active = None  # the NgspiceSession whose circuit is loaded in it (one at a time)


def ffi_null():
    from PySpice.Spice.NgSpice.Shared import FFI
    return FFI.NULL


def _ngspice():
    """The process-wide shared ngspice instance (created on first use)."""
    global _shared
    if _shared is not None:
        return _shared
    if not os.environ.get("NGSPICE_LIBRARY_PATH"):
        for cand in _LIBRARY_CANDIDATES:
            if Path(cand).exists():
                os.environ["NGSPICE_LIBRARY_PATH"] = cand
                break
        else:
            raise BackendError(_MISSING)
    logging.getLogger("PySpice").setLevel(logging.CRITICAL)
    try:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared
    except ImportError as exc:  # pragma: no cover - PySpice is a dependency
        raise BackendError(f"PySpice is not installed ({exc}); `pip install PySpice==1.5`") from exc
    try:
        _shared = NgSpiceShared.new_instance()
    except OSError as exc:
        raise BackendError(f"{_MISSING} ({exc})") from exc
    return _shared


class NgspiceSession:
    """A circuit loaded once into the shared ngspice, solved for many source vectors.

    Parameters
    ----------
    circuit : Circuit
    options : str
        ``.options`` line contents (default: tight validation tolerances).
    """

    def __init__(self, circuit, options: str = TIGHT_OPTIONS):
        self.circuit = circuit
        self.options = options
        self._ng = _ngspice()
        self.n_runs = 0
        self._activate()

    def _activate(self) -> None:
        """Make this session's circuit the one loaded in the shared ngspice."""
        global _active
        if _active is self:
            return
        if _active is not None:
            _active._release()
        self._load(write_netlist(self._spice_netlist()))
        self._current = self.circuit.default_sources().copy()
        _active = self

    def _spice_netlist(self):
        """The circuit as ngspice gets it: element names ngspice cannot take (``D[1]``,
        ``r<x>``) replaced by safe ones; :attr:`spice_name` maps ours to ngspice's."""
        import dataclasses
        net = self.circuit.to_netlist()
        taken = {e.name for e in net.elements}
        self.spice_name = {}
        els = []
        for k, e in enumerate(net.elements):
            name = e.name
            if not _SAFE_NAME.match(name):
                name = f"{e.kind.lower()}_cl{k}"
                while name in taken:
                    name += "_"
                taken.add(name)
                e = dataclasses.replace(e, name=name)
            self.spice_name[net.elements[k].name] = name
            els.append(e)
        return dataclasses.replace(net, elements=tuple(els))

    def _release(self) -> None:
        global _active
        try:
            self._command("destroy all")
            self._command("remcirc")
        finally:
            _active = None

    # ------------------------------------------------------------ low level
    def _command(self, command: str) -> tuple[list[str], list[str]]:
        ng = self._ng
        self._n_commands = getattr(self, "_n_commands", 0) + 1
        if self._n_commands % 1000 == 0:
            # ngspice keeps every command in its control structures: free them
            ng._ngspice_shared.ngSpice_Command(ffi_null())
        ng.clear_output()
        rc = ng._ngspice_shared.ngSpice_Command(command.encode("ascii"))
        if rc:
            raise BackendError(f"ngspice refused command {command!r} (code {rc})")
        return list(ng._stdout), list(ng._stderr)

    def _load(self, deck: str) -> None:
        from PySpice.Spice.NgSpice.Shared import FFI, ffi
        lines = deck.splitlines()
        # options go before .end; ngspice needs a trailing empty line
        end = next((i for i, ln in enumerate(lines) if ln.strip().lower() == ".end"), len(lines))
        lines = lines[:end] + [f".options {self.options}"] + lines[end:]
        self._ng.clear_output()
        keep = [ffi.new("char[]", ln.encode("utf8")) for ln in lines if ln.strip()]
        keep += [ffi.new("char[]", b""), FFI.NULL]
        rc = self._ng._ngspice_shared.ngSpice_Circ(ffi.new("char *[]", keep))
        errors = [ln for ln in self._ng._stderr + self._ng._stdout
                  if _FATAL.search(ln) and not ln.lower().startswith("warning, can't find model")
                  and not _BENIGN.match(ln)]
        if rc or errors:
            raise BackendError("ngspice could not load the circuit: " + " | ".join(errors or [f"code {rc}"]))
        # keep node voltages and branch currents, and ask for every diode current
        probes = [f"@{self.spice_name[d]}[id]" for d in self.circuit.diode_names]
        chunk = ["all"]
        for p in probes + [None]:
            if p is None or sum(len(x) + 1 for x in chunk) + len(p) > 900:
                self._command("save " + " ".join(chunk))
                chunk = []
            if p is not None:
                chunk.append(p)

    def _alter(self, sources: np.ndarray) -> None:
        c = self.circuit
        for k, name in enumerate(c.source_names):
            if sources[k] != self._current[k]:
                _, err = self._command(f"alter {self.spice_name[name]} dc={float(sources[k])!r}")
                if any(_FATAL.search(e) for e in err):
                    raise BackendError(f"ngspice: alter {name}: " + " | ".join(err))
                self._current[k] = sources[k]

    def set_conductance(self, conductance) -> None:
        """Program new resistor conductances (``float64[m]``) into the loaded circuit."""
        g = np.asarray(conductance, dtype=np.float64)
        old = self.circuit.conductance
        changed = np.flatnonzero(g != old)
        if _active is not self or changed.size > 64:
            # one reload costs less than many alter commands (~30 us each)
            self.circuit = self.circuit.with_conductance(g)
            if _active is self:
                self._release()
            self._activate()
            return
        for k in changed:
            name = self.spice_name[self.circuit.resistor_names[k]]
            _, err = self._command(f"alter {name} = {float(1.0 / g[k])!r}")
            if any(_FATAL.search(e) for e in err):
                raise BackendError(f"ngspice: alter {self.circuit.resistor_names[k]}: " + " | ".join(err))
        self.circuit = self.circuit.with_conductance(g)

    def op(self, sources) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, str]:
        """One operating point: (voltages[n_nodes], V-source currents, diode currents, status, message)."""
        self._activate()
        self._alter(np.asarray(sources, dtype=np.float64))
        out, err = self._command("op")
        self.n_runs += 1
        fatal = [e for e in err if _FATAL.search(e) and not _BENIGN.match(e)]
        fatal += [o for o in out if "dc solution failed" in o.lower()]
        singular = [e for e in err if _SINGULAR.search(e)]
        if fatal:
            self._command("destroy all")
            raise BackendError("ngspice: " + " | ".join(dict.fromkeys(fatal)))
        plot = self._ng.last_plot
        vecs = self._read_plot(plot)
        self._command("destroy all")
        c = self.circuit
        v = np.zeros(c.n_nodes)
        for i, name in enumerate(c.node_names[1:], start=1):
            key = f"v({name})"
            if key not in vecs:
                key = name
            if key not in vecs:
                raise BackendError(f"ngspice returned no voltage for node {name!r}")
            v[i] = vecs[key]
        try:
            isrc = np.array([vecs[f"{self.spice_name[n]}#branch"] for n in c.vsource_names])
            idio = np.array([vecs[f"@{self.spice_name[d]}[id]"] for d in c.diode_names])
        except KeyError as exc:
            raise BackendError(f"ngspice returned no vector {exc.args[0]!r}") from None
        if singular:
            return v, isrc, idio, 2, "ngspice: " + singular[0].strip()
        return v, isrc, idio, 0, "converged"

    def op_batch(self, batch: np.ndarray):
        """All operating points of ``batch`` [B, n_sources] in one ngspice DC sweep (see
        the module docstring): ``(V[B, n_nodes], I[B, n_v], D[B, n_d])``, or None when
        ngspice could not finish the sweep (the caller falls back to :meth:`op`)."""
        c = self.circuit
        B = batch.shape[0]
        varies = np.flatnonzero(np.any(batch != batch[:1], axis=0))
        net = self._spice_netlist()
        import dataclasses
        by_name = {self.spice_name[n]: k for k, n in enumerate(c.source_names)}
        idx = "cl_idx"
        while any(idx in e.nodes or e.name == "v" + idx for e in net.elements):
            idx += "_"
        keep, extra = [], []
        xs = np.arange(B, dtype=np.float64)
        for e in net.elements:
            k = by_name.get(e.name)
            if k is None:
                keep.append(e)
            elif k not in varies:
                keep.append(dataclasses.replace(e, value=float(batch[0, k])))
            else:
                pts = np.column_stack([xs, batch[:, k]]).ravel()
                nums = [repr(float(p)) for p in pts]
                body = [", ".join(nums[i:i + 16]) for i in range(0, len(nums), 16)]
                kind = "V" if e.kind == "V" else "I"
                extra.append(f"b{e.name} {e.nodes[0]} {e.nodes[1]} {kind} = pwl(V({idx}), "
                             + ",\n+ ".join(body) + ")")
        deck = write_netlist(dataclasses.replace(net, elements=tuple(keep))).splitlines()
        end = next((i for i, ln in enumerate(deck) if ln.strip().lower() == ".end"), len(deck))
        deck = deck[:end] + [f"v{idx} {idx} 0 DC 0"] + extra + deck[end:]
        if _active is not None:          # the sweep deck replaces whatever is loaded
            _active._release()
        names = {n: (f"b{n}" if by_name[n] in varies else n) for n in by_name}
        saved, options = dict(self.spice_name), self.options
        try:
            self.spice_name = {ours: names.get(sp, sp) for ours, sp in saved.items()}
            # a sweep point starts from the previous one and stops as soon as it meets
            # reltol, where an op from scratch overshoots it: reltol 1000x tighter keeps
            # the sweep's voltages on the op loop's to ~1e-12 V
            self.options = " ".join([t for t in options.split() if not t.lower().startswith(
                "reltol")] + [f"reltol={_sweep_reltol(options)!r}"])
            try:
                self._load("\n".join(deck))
            except BackendError:
                return None          # the loop below reports what is wrong with the deck
            out, err = self._command(f"dc v{idx} 0 {B - 1} 1")
            fatal = [e for e in err if _FATAL.search(e) and not _BENIGN.match(e)]
            fatal += [o for o in out if "dc solution failed" in o.lower()
                      or "aborted" in o.lower()]
            if fatal or any(_SINGULAR.search(e) for e in err):
                return None
            vecs = self._read_plot(self._ng.last_plot, all_points=True)
            self.n_runs += B
            V = np.zeros((B, c.n_nodes))
            for i, name in enumerate(c.node_names[1:], start=1):
                v = vecs.get(f"v({name})", vecs.get(name))
                if v is None or v.size != B:
                    return None
                V[:, i] = v
            try:
                I = np.stack([vecs[f"{self.spice_name[n]}#branch"] for n in c.vsource_names],
                             axis=1) if c.vsource_names else np.zeros((B, 0))
                D = np.stack([vecs[f"@{self.spice_name[d]}[id]"] for d in c.diode_names],
                             axis=1) if c.diode_names else np.zeros((B, 0))
            except KeyError:
                return None
            if I.shape[0] != B or D.shape[0] != B:
                return None
            return V, I, D
        finally:
            try:
                self._release()
            finally:
                self.spice_name, self.options = saved, options

    def _read_plot(self, plot_name: str, all_points: bool = False) -> dict:
        from PySpice.Spice.NgSpice.Shared import FFI, ffi
        lib = self._ng._ngspice_shared
        names = lib.ngSpice_AllVecs(plot_name.encode("utf8"))
        out = {}
        i = 0
        while names[i] != FFI.NULL:
            name = ffi.string(names[i]).decode("utf8")
            info = lib.ngGet_Vec_Info(f"{plot_name}.{name}".encode("utf8"))
            if info != FFI.NULL and info.v_realdata != FFI.NULL and info.v_length > 0:
                if all_points:
                    out[name.lower()] = np.frombuffer(
                        ffi.buffer(info.v_realdata, 8 * info.v_length), np.float64).copy()
                else:
                    out[name.lower()] = float(info.v_realdata[0])
            i += 1
        return out

    def close(self) -> None:
        """Remove the circuit from ngspice and free its plots."""
        if _active is self:
            try:
                self._release()
            except BackendError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: the session :func:`solve_ngspice` made last, reused while the same circuit object and
#: options come back (a new session per call cost a reload and leaked ngspice memory)
_last = {"circuit": None, "options": None, "session": None}


def _session_for(circuit, options):
    import weakref
    ref = _last["circuit"]
    if ref is not None and ref() is circuit and _last["options"] == options \
            and _last["session"] is not None:
        return _last["session"]
    if _last["session"] is not None:
        _last["session"].close()
    sess = NgspiceSession(circuit, options=options)
    _last.update(circuit=weakref.ref(circuit), options=options, session=sess)
    return sess


def kcl_residuals(circuit, V, isrc, idio, sources):
    """Per-sample largest KCL residual (A) of values ngspice returned, over the nodes whose
    currents are all known (nodes at an E-source output are left out: ngspice does not
    return those branch currents)."""
    B, n = V.shape
    net = np.zeros((B, n))
    g = circuit.conductance
    ra, rb = circuit.resistor_nodes[:, 0], circuit.resistor_nodes[:, 1]
    i = g * (V[:, ra] - V[:, rb])
    np.add.at(net.T, ra, i.T)
    np.subtract.at(net.T, rb, i.T)
    vn = circuit.vsource_nodes          # branch current flows n+ -> source -> n-
    np.add.at(net.T, vn[:, 0], isrc.T)
    np.subtract.at(net.T, vn[:, 1], isrc.T)
    nv = len(circuit.vsource_names)
    inn = circuit.isource_nodes         # drawn from n+, injected into n-
    ii = sources[:, nv:]
    np.add.at(net.T, inn[:, 0], ii.T)
    np.subtract.at(net.T, inn[:, 1], ii.T)
    dn = circuit.diode_nodes            # anode -> cathode
    np.add.at(net.T, dn[:, 0], idio.T)
    np.subtract.at(net.T, dn[:, 1], idio.T)
    gn = circuit.vccs_nodes
    if gn.shape[0]:
        ig = circuit.vccs_gain * (V[:, gn[:, 2]] - V[:, gn[:, 3]])
        np.add.at(net.T, gn[:, 0], ig.T)
        np.subtract.at(net.T, gn[:, 1], ig.T)
    check = np.ones(n, bool)
    check[0] = False
    check[circuit.vcvs_nodes[:, :2].ravel()] = False
    return np.abs(net[:, check]).max(axis=1, initial=0.0)


def solve_ngspice(circuit, sources=None, *, diodes: str = "shockley", tol: float | None = None,
                  maxiter: int | None = None, options: str | None = None,
                  session: NgspiceSession | None = None) -> SolveResult:
    """DC operating points of ``circuit`` for a batch of source vectors, computed by ngspice.

    ngspice simulates the diode ``.model`` cards as they are (Shockley model);
    it has no ideal diode, so ``diodes`` must be ``"shockley"``.  ``tol`` becomes
    ngspice's ``vntol`` and ``maxiter`` its ``itl1`` (:func:`ngspice_options`);
    ``options`` gives the whole ``.options`` line instead.  A ``session`` keeps its
    own options: giving ``tol``, ``maxiter`` or ``options`` that differ is refused.
    Without a session, the last one made is reused while the circuit and options
    stay the same.  ngspice does not say how many Newton iterations it took:
    ``nit`` is -1 (unknown).  ``kcl_residual`` is computed from the returned
    voltages and currents (:func:`kcl_residuals`).  A backend error (ngspice's own
    message) raises :class:`BackendError`; a singular matrix is reported with
    ``success=False, status=2``.
    """
    if diodes != "shockley":
        raise ValueError("ngspice has no ideal diode: use diodes='shockley' (with a near-ideal "
                         ".model such as 'dideal' in spice_models/ to approximate one)")
    if options is not None and (tol is not None or maxiter is not None):
        raise ValueError("give either options= (the whole .options line) or tol/maxiter")
    opts = options if options is not None else ngspice_options(tol, maxiter)
    if session is not None and (options is not None or tol is not None or maxiter is not None) \
            and opts != session.options:
        raise ValueError(f"this ngspice session runs with '.options {session.options}'; "
                         f"tol/maxiter/options asking for '{opts}' would be ignored")
    if sources is None:
        sources = circuit.default_sources()[None, :]
    vs, is_ = circuit.split_sources(sources)
    batch = np.concatenate([vs, is_], axis=1)
    sess = session or _session_for(circuit, opts)
    t0 = time.perf_counter()
    V = np.zeros((batch.shape[0], circuit.n_nodes))
    I = np.zeros((batch.shape[0], len(circuit.vsource_names)))
    D = np.zeros((batch.shape[0], len(circuit.diode_names)))
    status = np.zeros(batch.shape[0], dtype=np.int64)
    messages = []
    swept = sess.op_batch(batch) if batch.shape[0] >= SWEEP_MIN_BATCH else None
    if swept is not None:
        V, I, D = swept
    else:
        for b in range(batch.shape[0]):
            V[b], I[b], D[b], status[b], msg = sess.op(batch[b])
            if status[b]:
                messages.append(f"sample {b}: {msg}")
    worst = int(status.max()) if status.size else 0
    msg = "; ".join(messages[:3]) if messages else STATUS_MESSAGES[0]
    return SolveResult(
        voltages=V, source_currents=I, diode_currents=D,
        success=worst == 0, status=worst, message=msg, nit=-1,
        kcl_residual=kcl_residuals(sess.circuit, V, I, D, batch),
        diode_violation=np.zeros(V.shape[0]),
        sample_success=status == 0, node_names=circuit.node_names, sample_status=status,
        method=f"ngspice-shared{' dc-sweep' if swept is not None else ''} "
               f"({time.perf_counter() - t0:.3g} s)")
