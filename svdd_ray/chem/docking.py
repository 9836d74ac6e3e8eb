"""Docking reward with AutoDock Vina on dockstring's 58 prepared targets.

Receptors (PDBQT) and search boxes come from the data files of the
``dockstring`` package (install with ``pip install --no-deps dockstring``; its
code and its Open Babel ligand preparation are not used). Ligands are
prepared with RDKit (ETKDGv3, fixed seed, MMFF94) and Meeko, and docked with
the ``vina`` Python package.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from svdd_ray.chem._dock_worker import LigandError, prepare_ligand
from svdd_ray.chem.data import package_data_dir
from svdd_ray.chem.rewards import canonical_key, molecule_key

__all__ = [
    "DockingReward",
    "DockingResult",
    "timed_docking",
    "dockstring_targets_dir",
    "list_targets",
    "target_box",
    "LigandError",
    "prepare_ligand",
]

_WORKER = Path(__file__).with_name("_dock_worker.py")
NAN = float("nan")


def dockstring_targets_dir() -> Path:
    """``dockstring/resources/targets`` of the installed dockstring package."""
    return package_data_dir(
        "dockstring", "resources/targets", "install its data files with `pip install --no-deps dockstring`"
    )


def list_targets() -> list[str]:
    """Names of the targets shipped with dockstring (``ABL1`` .. ``PARP1`` ..)."""
    return sorted(p.name[: -len("_target.pdbqt")] for p in dockstring_targets_dir().glob("*_target.pdbqt"))


def target_box(target: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """``(center, size)`` in Ångström of a dockstring target's search box."""
    conf = dockstring_targets_dir() / f"{target}_conf.txt"
    values = {}
    for line in conf.read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = float(value)
    center = tuple(values[f"center_{a}"] for a in "xyz")
    size = tuple(values[f"size_{a}"] for a in "xyz")
    return center, size  # type: ignore[return-value]


def _resolve_target(target: str) -> str:
    names = list_targets()
    by_upper = {n.upper(): n for n in names}
    if not isinstance(target, str) or target.upper() not in by_upper:
        raise ValueError(f"unknown docking target {target!r}; valid targets: {', '.join(names)}")
    return by_upper[target.upper()]


def _triple(value, name: str) -> tuple[float, float, float]:
    vals = tuple(float(v) for v in value)
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{name} must be three finite numbers, got {value!r}")
    return vals  # type: ignore[return-value]


@dataclass
class DockingResult:
    """One molecule's docking outcome. ``affinity`` is Vina's best score (kcal/mol, lower is better)."""

    smiles: str
    affinity: float = NAN
    affinities: list[float] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    poses: str | None = None

    @property
    def reward(self) -> float:
        return -self.affinity if math.isfinite(self.affinity) else NAN


class DockingReward:
    """Reward ``list[SMILES] -> list[float]``: minus the Vina affinity (kcal/mol), higher is better.

    Args:
        target: a dockstring target name (case-insensitive), e.g. ``"PARP1"``, ``"JAK2"``.
        exhaustiveness: Vina's search exhaustiveness (1 is ~5 s per molecule on one
            core; dockstring uses 8, ~50 s).
        seed: seed (>= 0) for RDKit's conformer embedding and Vina's search; results
            are reproducible for a given seed (Vina itself treats seed 0 as "random",
            so 0 is passed to Vina as dockstring's default seed 974528263).
        timeout_s: wall-clock budget per molecule (preparation + docking);
            ``None`` for no limit. A molecule that runs over gets NaN.
        center, size: override the target's search box (Å, three numbers each).
        num_poses: poses Vina refines and reports; the reward uses the best.
        max_evals: cap on the scoring-function evaluations of each Monte Carlo
            run (Vina's ``max_evals``; 0, the default, leaves it to Vina's heuristic,
            which grows with the ligand's size). A low-fidelity dock for the early
            steps of a value plan: ``benchmarks/docking.py --fidelity`` measures its
            seconds per molecule and its rank agreement with the full search.
        cpu: threads Vina may use (default 1).
        cache: remember results per canonical SMILES (molecules recur a lot
            in guided sampling).
        receptor: path of a custom receptor PDBQT (``target`` is then only a
            label and ``center`` and ``size`` are required).

    Molecules that cannot be prepared (invalid SMILES, several fragments,
    metals, boron and other elements Vina/Meeko do not type, embedding
    failure) or that time out give NaN; nothing raises for a bad molecule.

    **Why a worker process.** Vina's search is a long C++ call that holds
    the GIL and cannot be interrupted from Python; a thread running it could
    not be stopped, so a hung dock would keep a core and ~0.5 GB forever.
    All work therefore runs in one persistent child process (started lazily
    on the first call, which also computes the receptor maps, ~3 s for a
    30 Å box) that is reused for every later molecule; the parent waits for
    each answer with a deadline and SIGKILLs the child if it runs over (or
    notices if it crashes), then starts a fresh one, recomputing the maps,
    for the next molecule. The worker is a plain script started with
    ``sys.executable`` rather than ``multiprocessing``, so it does not
    re-import the user's ``__main__`` and works inside Ray actors. Instances
    pickle without their worker. Call :meth:`close` (or use ``with``) to stop
    the worker early; it also stops when the instance is garbage collected.
    """

    #: the objects it scores (a model of another domain is refused when the config loads)
    reads = "molecules"

    def __init__(
        self,
        target: str = "PARP1",
        exhaustiveness: int = 1,
        seed: int = 0,
        timeout_s: float | None = 60.0,
        center: Sequence[float] | None = None,
        size: Sequence[float] | None = None,
        num_poses: int = 1,
        max_evals: int = 0,
        *,
        cpu: int = 1,
        cache: bool = True,
        receptor: str | os.PathLike | None = None,
    ) -> None:
        if receptor is None:
            self.target = _resolve_target(target)
            self.receptor = str(dockstring_targets_dir() / f"{self.target}_target.pdbqt")
            default_center, default_size = target_box(self.target)
        else:
            if center is None or size is None:
                raise ValueError("a custom receptor needs both center and size")
            if not Path(receptor).is_file():
                raise FileNotFoundError(f"receptor file not found: {receptor}")
            self.target = str(target)
            self.receptor = str(receptor)
            default_center = default_size = None
        self.center = _triple(center if center is not None else default_center, "center")
        self.size = _triple(size if size is not None else default_size, "size")
        if any(s <= 0 for s in self.size):
            raise ValueError(f"box size must be positive, got {self.size}")
        if int(seed) < 0:
            raise ValueError("seed must be >= 0")
        if int(exhaustiveness) < 1 or int(num_poses) < 1 or int(cpu) < 1:
            raise ValueError("exhaustiveness, num_poses and cpu must be >= 1")
        if int(max_evals) < 0:
            raise ValueError(f"max_evals must be >= 0 (0: Vina's heuristic), got {max_evals}")
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError("timeout_s must be positive or None")
        self.exhaustiveness = int(exhaustiveness)
        self.seed = int(seed)
        self.timeout_s = None if timeout_s is None else float(timeout_s)
        self.num_poses = int(num_poses)
        self.max_evals = int(max_evals)
        self.cpu = int(cpu)
        self.use_cache = bool(cache)
        self.startup_timeout_s = 300.0
        self._cache: dict[str, DockingResult] = {}
        self._proc: subprocess.Popen | None = None
        self._buffer = b""
        self._stderr = None
        self.worker_starts = 0
        self.__name__ = f"docking_{self.target}"

    def __repr__(self) -> str:
        return (
            f"DockingReward(target={self.target!r}, exhaustiveness={self.exhaustiveness}, "
            f"seed={self.seed}, timeout_s={self.timeout_s}, center={self.center}, "
            f"size={self.size}, num_poses={self.num_poses}, max_evals={self.max_evals})"
        )

    # ------------------------------------------------------------- worker
    def _setup_message(self) -> dict:
        return {
            "receptor": self.receptor,
            "center": self.center,
            "size": self.size,
            "exhaustiveness": self.exhaustiveness,
            "seed": self.seed,
            "num_poses": self.num_poses,
            "max_evals": self.max_evals,
            "cpu": self.cpu,
            "return_poses": True,
        }

    def _start(self) -> None:
        self.close()
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        self._proc = subprocess.Popen(
            [sys.executable, str(_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            close_fds=True,
        )
        self._buffer = b""
        self.worker_starts += 1
        self._send(self._setup_message())
        answer = self._receive(self.startup_timeout_s)
        if not answer or not answer.get("ready"):
            log = self._stderr_tail()
            self.close()
            raise RuntimeError(f"docking worker failed to start for {self.target}: {log}")

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode(errors="replace")[-limit:]
        except Exception:
            return ""

    def _send(self, obj: dict) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write((json.dumps(obj) + "\n").encode())
        self._proc.stdin.flush()

    def _receive(self, timeout: float | None) -> dict | None:
        """Next JSON line from the worker; ``None`` on timeout or worker death."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:  # EOF: the worker died
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        """Stop the worker process (a later call starts a new one)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.kill()
                proc.wait(timeout=10)
            except Exception:
                pass
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except Exception:
                    pass
        if self._stderr is not None:
            try:
                self._stderr.close()
            except Exception:
                pass
            self._stderr = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self) -> DockingReward:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_proc=None, _stderr=None, _buffer=b"")
        return state

    # ------------------------------------------------------------ docking
    def _dock_one(self, smiles: str) -> DockingResult:
        start = time.monotonic()
        # cheap checks in-process so that bad molecules never cost a worker start
        try:
            from rdkit import Chem

            if not isinstance(smiles, str) or Chem.MolFromSmiles(smiles) is None or not smiles.strip():
                raise LigandError("unparseable SMILES")
        except LigandError as exc:
            return DockingResult(str(smiles), error=str(exc))
        if self._proc is None or self._proc.poll() is not None:
            self._start()
            start = time.monotonic()  # the per-molecule budget excludes worker start-up
        try:
            self._send({"smiles": smiles})
            answer = self._receive(self.timeout_s)
        except (BrokenPipeError, OSError):
            answer = None
        seconds = time.monotonic() - start
        if answer is None:
            crashed = self._proc is not None and self._proc.poll() is not None
            self.close()  # kill a hung worker; the next molecule starts a new one
            reason = "docking worker crashed" if crashed else f"timed out after {self.timeout_s} s"
            return DockingResult(smiles, error=reason, seconds=seconds)
        if "error" in answer:
            return DockingResult(smiles, error=answer["error"], seconds=seconds)
        affinities = [float(a) for a in answer["affinities"]]
        best = min(affinities) if affinities else NAN
        return DockingResult(smiles, affinity=best, affinities=affinities, seconds=seconds, poses=answer.get("poses"))

    def dock(self, smiles_list: Sequence[str]) -> list[DockingResult]:
        """Dock each molecule; full results (affinities, poses as PDBQT, errors, timing)."""
        if isinstance(smiles_list, str):
            raise TypeError("dock takes a list of SMILES, not a single string")
        results = []
        for smi in smiles_list:
            key = canonical_key(smi)
            if not key:
                results.append(DockingResult(str(smi), error="invalid or empty SMILES"))
                continue
            if self.use_cache and key in self._cache:
                results.append(self._cache[key])
                continue
            result = self._dock_one(key)
            # cache everything but timeouts/crashes, which may be transient
            if self.use_cache and not (result.error or "").startswith(("timed out", "docking worker")):
                self._cache[key] = result
            results.append(result)
        return results

    def __call__(self, smiles_list: Sequence[str]) -> list[float]:
        return [r.reward for r in self.dock(smiles_list)]

    def canonical_key(self, smiles: str) -> str:
        """Cache key: the canonical SMILES (poses depend on the molecule, not on how it is written)."""
        return molecule_key(smiles)


def timed_docking(reward: DockingReward, molecules: Sequence[str], warmup: str = "CCO") -> tuple[float, list[float]]:
    """Seconds per molecule and the scores of ``reward`` on ``molecules``, after one ``warmup`` docking
    (receptor maps and worker start-up are not per-molecule costs). Use a reward with ``cache=False``."""
    reward([warmup])
    began = time.perf_counter()
    scores = reward(molecules)
    return (time.perf_counter() - began) / len(molecules), scores
