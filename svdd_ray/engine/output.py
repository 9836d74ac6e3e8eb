"""A run's output directory: one Parquet file per batch, a trace table and ``_manifest.json``.

Files are written to a hidden temporary name and renamed, so a directory never holds a
half-written batch. Names starting with ``_`` or ``.`` are skipped by pyarrow, pandas and
Ray Data, so ``pandas.read_parquet(run_dir)`` reads exactly the samples.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from svdd_ray.config import Config, ConfigError

MANIFEST = "_manifest.json"
TRACE_DIR = "_trace"
BATCH_FILE = re.compile(r"^batch-(\d{6})\.parquet$")


def batch_sizes(num_samples: int, batch_size: int) -> list[int]:
    """The sizes of a run's batches, in order (the last one holds the rest)."""
    full, rest = divmod(num_samples, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def identity(config: Config) -> dict:
    """The parts of a config that determine the samples (not where or how wide it runs)."""
    data = config.to_dict()
    data.pop("resources")
    data["run"].pop("output_dir")
    data["reward"].pop("cache_file")
    for comp in data["reward"]["components"]:
        for key in ("actors", "num_cpus", "chunk_size", "timeout_s"):
            comp.pop(key)
    return data


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("svdd-ray", "torch", "ray", "pyarrow", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def object_cell(obj: Any) -> Any:
    """How a decoded object is stored: strings as text, images as PNG bytes, the rest as JSON."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, np.ndarray):
        return encode_png(obj)
    return json.dumps(obj.tolist() if hasattr(obj, "tolist") else obj)


def encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8).squeeze()).save(buf, format="PNG")
    return buf.getvalue()


class RunOutput:
    """Creates or resumes a run directory and writes its files."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.dir = Path(config.run.output_dir)
        self.manifest: dict = {}
        self.damaged: list[str] = []  # batch files that do not read back (redone by the run)

    def check(self) -> set[int]:
        """Read the directory without writing: the batches an earlier attempt finished.

        A directory is usable when it is absent or empty, holds this run (resume), or holds only
        the manifest of a run that never finished a batch (it is started afresh). Anything else
        is a ConfigError naming ``run.output_dir``.
        """
        self.manifest, self.damaged = {}, []
        check_writable(self.dir)
        manifest_path = self.dir / MANIFEST
        if not manifest_path.is_file():
            if self.dir.exists() and any(self.dir.iterdir()):
                raise ConfigError(f"run.output_dir: {self.dir} is not empty and holds no svdd_ray run")
            check_space(self.dir, self.config.run.num_samples)
            return set()
        try:
            manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError(f"{manifest_path}: unreadable manifest; use another run.output_dir") from None
        done = {int(m.group(1)) for p in self.dir.iterdir() if (m := BATCH_FILE.match(p.name))}
        if manifest.get("identity") == identity(self.config):
            self.manifest = manifest
            sizes = batch_sizes(self.config.run.num_samples, self.config.run.batch_size)
            self.damaged = sorted(f"batch-{b:06d}.parquet" for b in done if not self._readable(b, sizes))
            return {b for b in done if f"batch-{b:06d}.parquet" not in self.damaged}
        if not done and manifest.get("status") != "complete":
            return set()  # an attempt that never finished a batch: nothing to keep
        raise ConfigError(f"run.output_dir: {self.dir} holds a run with a different config; use another directory")

    def _readable(self, batch: int, sizes: list[int]) -> bool:
        """Whether batch file ``batch`` reads back as Parquet with the batch's number of rows."""
        try:
            rows = pq.read_metadata(self.dir / f"batch-{batch:06d}.parquet").num_rows
        except (OSError, pa.ArrowException):
            return False
        return batch < len(sizes) and rows == sizes[batch]

    def complete(self, num_batches: int) -> bool:
        """Whether :meth:`check` found this run complete: marked so, with every batch file readable."""
        if self.manifest.get("status") != "complete" or self.damaged:
            return False
        return sum(1 for p in self.dir.iterdir() if BATCH_FILE.match(p.name)) == num_batches

    def open(self) -> set[int]:
        """Prepare the directory (see :meth:`check`); return the batches already written by an earlier attempt."""
        done = self.check()
        self.opened_at = now()
        if self.manifest:
            if self.manifest.get("status") == "running" and done:  # an attempt that was killed
                self.manifest["parts"] = [*self.manifest.get("parts", []), self._killed_part(done)]
            self.manifest["resumed_at"] = [*self.manifest.get("resumed_at", []), self.opened_at]
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.manifest = {
                "run_id": uuid.uuid4().hex[:12],
                "status": "running",
                "domain": self.config.model.domain,
                "identity": identity(self.config),
                "config": self.config.to_dict(),
                "versions": versions(),
                "git_commit": git_commit(),
                "host": socket.gethostname(),
                "argv": sys.argv,
                "started_at": now(),
            }
        self._write_manifest()
        return done

    def _killed_part(self, done: set[int]) -> dict:
        """What an attempt that was killed left: the batches it wrote (after it started), their samples and
        reward calls as the batch files record them, and its time until its last batch file."""
        started = ([self.manifest["started_at"]] + self.manifest.get("resumed_at", []))[-1]
        since = datetime.fromisoformat(started).timestamp()
        paths = [self.dir / f"batch-{b:06d}.parquet" for b in sorted(done)]
        mine = [p for p in paths if p.stat().st_mtime >= since - 1]
        part = {"started_at": started, "interrupted": True, "batches": len(mine), "samples": 0, "reward_calls": 0}
        by_component: dict[str, int] = {}
        for path in mine:
            table = pq.read_table(path)
            part["samples"] += table.num_rows
            part["reward_calls"] += int(table.column("reward_calls")[0].as_py())
            for name in table.column_names:
                if name.startswith("calls_"):
                    by_component[name[6:]] = by_component.get(name[6:], 0) + int(table.column(name)[0].as_py())
        part["reward_calls_by_component"] = by_component
        last = max((p.stat().st_mtime for p in mine), default=since)
        part["wall_time_s"] = max(0.0, last - since)
        return part

    def interrupt(self, totals: dict) -> None:
        """Record an attempt stopped by the user: its totals so far as a part; the run stays resumable."""
        part = {"started_at": self.opened_at, "interrupted_at": now(), "interrupted": True, **totals}
        began = datetime.fromisoformat(self.opened_at).timestamp()
        part["wall_time_s"] = max(0.0, datetime.now(timezone.utc).timestamp() - began)
        self.manifest.update(status="interrupted", parts=[*self.manifest.get("parts", []), part])
        self._write_manifest()

    @property
    def run_id(self) -> str:
        return self.manifest["run_id"]

    def write_batch(self, batch: int, rows: dict[str, list], trace: dict[str, list] | None = None) -> None:
        """Write one finished batch (and its trace) atomically."""
        if trace:
            (self.dir / TRACE_DIR).mkdir(exist_ok=True)
            write_atomic(self.dir / TRACE_DIR / f"batch-{batch:06d}.parquet", to_parquet(pa.table(trace)))
        write_atomic(self.dir / f"batch-{batch:06d}.parquet", to_parquet(pa.table(rows)))

    def finish(self, totals: dict) -> None:
        """Mark the run complete. A resumed run's totals add up the work of its parts (each part's own are kept
        in ``parts``); ``samples`` and ``batches`` are those the directory holds (a redone batch counts once)."""
        parts = [*self.manifest.get("parts", []), {"started_at": self.opened_at, "finished_at": now(), **totals}]
        summed = {key: _add([p.get(key, 0) for p in parts]) for key in totals if key != "cache_hit_rate"}
        files = [p for p in self.dir.iterdir() if BATCH_FILE.match(p.name)]  # a redone batch counts once
        summed.update(batches=len(files), samples=sum(pq.read_metadata(p).num_rows for p in files))
        lookups = summed.get("cache_hits", 0) + summed.get("cache_misses", 0)
        summed["cache_hit_rate"] = summed.get("cache_hits", 0) / lookups if lookups else 0.0
        self.manifest.update(status="complete", finished_at=now(), totals=summed, parts=parts)
        self._write_manifest()

    def _write_manifest(self) -> None:
        write_atomic(self.dir / MANIFEST, json.dumps(self.manifest, indent=2, default=str).encode())


def check_writable(directory: Path) -> None:
    """Refuse (ConfigError naming ``run.output_dir``) an output directory that cannot be created or written."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"run.output_dir: {directory} is a file, not a directory")
    existing = _nearest_existing(directory)
    if not existing.is_dir():
        raise ConfigError(f"run.output_dir: {directory} lies below {existing}, which is a file")
    if _read_only(existing):
        raise ConfigError(f"run.output_dir: {existing} is on a read-only filesystem")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"run.output_dir: {existing} is not writable by this user")


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    while not path.exists():
        path = path.parent
    return path


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


#: Bytes every stored sample takes at least (its reward and index columns, compressed); a bound, not an estimate.
MIN_BYTES_PER_SAMPLE = 8


def check_space(directory: Path, num_samples: int) -> None:
    """Refuse a run whose samples cannot fit on the output's filesystem even at the least each one takes."""
    existing = _nearest_existing(directory)
    free = shutil.disk_usage(existing).free
    need = num_samples * MIN_BYTES_PER_SAMPLE
    if need > free:
        raise ConfigError(
            f"run.num_samples: {num_samples} samples need at least {size_text(need)} in run.output_dir "
            f"({existing} has {size_text(free)} free)"
        )


def size_text(n: float) -> str:
    """Bytes for people: ``512 B``, ``3.2 GB``, ``8 TB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def _add(values: list):
    """Sum numbers, or mappings key by key (``reward_calls_by_component``; a part may lack a key)."""
    if any(isinstance(v, dict) for v in values):
        names = dict.fromkeys(k for v in values if isinstance(v, dict) for k in v)
        return {k: sum(v.get(k, 0) for v in values if isinstance(v, dict)) for k in names}
    return sum(values)


def to_parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
