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

    def check(self) -> set[int]:
        """Read the directory without writing: the batches an earlier attempt finished.

        A directory is usable when it is absent or empty, holds this run (resume), or holds only
        the manifest of a run that never finished a batch (it is started afresh). Anything else
        is a ConfigError naming ``run.output_dir``.
        """
        self.manifest = {}
        manifest_path = self.dir / MANIFEST
        if not manifest_path.is_file():
            if self.dir.exists() and any(self.dir.iterdir()):
                raise ConfigError(f"run.output_dir: {self.dir} is not empty and holds no svdd_ray run")
            return set()
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            raise ConfigError(f"{manifest_path}: unreadable manifest; use another run.output_dir") from None
        done = {int(m.group(1)) for p in self.dir.iterdir() if (m := BATCH_FILE.match(p.name))}
        if manifest.get("identity") == identity(self.config):
            self.manifest = manifest
            return done
        if not done and manifest.get("status") != "complete":
            return set()  # an attempt that never finished a batch: nothing to keep
        raise ConfigError(f"run.output_dir: {self.dir} holds a run with a different config; use another directory")

    def open(self) -> set[int]:
        """Prepare the directory (see :meth:`check`); return the batches already written by an earlier attempt."""
        done = self.check()
        self.opened_at = now()
        if self.manifest:
            if self.manifest.get("status") == "running" and done:
                self.manifest["parts"] = [*self.manifest.get("parts", []), self._interrupted_part(done)]
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

    def _interrupted_part(self, done: set[int]) -> dict:
        """What an attempt that died left: its batches, and its time until its last batch file was written."""
        started = ([self.manifest["started_at"]] + self.manifest.get("resumed_at", []))[-1]
        last = max((self.dir / f"batch-{b:06d}.parquet").stat().st_mtime for b in done)
        wall = max(0.0, last - datetime.fromisoformat(started).timestamp())
        earlier = sum(p.get("batches", 0) for p in self.manifest.get("parts", []))
        return {"started_at": started, "interrupted": True, "batches": len(done) - earlier, "wall_time_s": wall}

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
        """Mark the run complete; a resumed run's totals add up its parts (each part's own are kept in ``parts``)."""
        parts = [*self.manifest.get("parts", []), {"started_at": self.opened_at, "finished_at": now(), **totals}]
        summed = {key: _add([p.get(key, 0) for p in parts]) for key in totals if key != "cache_hit_rate"}
        lookups = summed.get("cache_hits", 0) + summed.get("cache_misses", 0)
        summed["cache_hit_rate"] = summed.get("cache_hits", 0) / lookups if lookups else 0.0
        self.manifest.update(status="complete", finished_at=now(), totals=summed, parts=parts)
        self._write_manifest()

    def _write_manifest(self) -> None:
        write_atomic(self.dir / MANIFEST, json.dumps(self.manifest, indent=2, default=str).encode())


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
