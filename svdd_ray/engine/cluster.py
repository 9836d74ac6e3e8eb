"""The Ray cluster a run uses: joining one, or starting an embedded local one, and checking it can hold the actors.

The embedded Ray listens on the loopback interface only (see SECURITY.md). On a cluster with an autoscaler the
resource check does not refuse a cluster that is too small right now: it asks the autoscaler for one bundle per
actor, and :func:`wait_for_resources` waits (with a deadline) for the nodes to join.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from svdd_ray.config import Config, ConfigError

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# The node type the read-only provider gives each node of a cluster nobody can grow (ray.init, plain ray start).
_READONLY_NODE_TYPE = re.compile(r"node_[0-9a-f]{56}")
_EPS = 1e-9


def connect(address: str | None = None, num_cpus: int | None = None, timeout_s: float = 30.0) -> None:
    """Join the cluster at ``address`` / ``RAY_ADDRESS``, or start an embedded local Ray bound to 127.0.0.1.

    Joining gives up after ``timeout_s`` (``resources.connect_timeout_s``) with a one-line ConfigError naming the
    address and where it came from (``ray.init`` alone retries an unreachable GCS for many minutes); see
    :func:`check_reachable`. A failed join leaves no Ray initialised in this process.
    """
    import ray

    if ray.is_initialized():
        return
    source = "from --address / resources.address" if address else "from RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address != "local":
        check_reachable(address, timeout_s, source)
        try:
            ray.init(address=address, log_to_driver=True)
        except Exception as err:
            logger.debug("ray.init(address=%r) failed", address, exc_info=True)
            with contextlib.suppress(Exception):
                ray.shutdown()
            raise ConfigError(
                f"resources.address: could not join the Ray cluster at {address} ({source}): {_first_line(err)}"
            ) from None
        return
    if address == "local":  # Ray's own "start a new local cluster", as before (not the loopback-only one below)
        ray.init(address="local", log_to_driver=True)
        return
    with _local_only_node_ip():
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            dashboard_host=LOOPBACK,
            log_to_driver=True,
            _node_ip_address=LOOPBACK,
        )
    node_ip = ray.util.get_node_ip_address()
    if node_ip != LOOPBACK:
        logger.warning("the embedded Ray runs on %s, not %s: its servers listen on every interface", node_ip, LOOPBACK)


# ---------------------------------------------------------------------- is a cluster there?
#: Run in a child process (``ray.init`` reads its GCS timeouts once per process, 40 s per try and 20 tries):
#: one GCS handshake, the first step ``ray.init`` takes; prints one JSON line.
_GCS_PROBE = r"""
import json, sys
try:
    from ray._raylet import GcsClient
    import ray.exceptions as rex
except Exception as err:
    print(json.dumps({"status": "broken", "error": f"{type(err).__name__}: {err}"}))
    sys.exit(0)
try:
    GcsClient(address=sys.argv[1])
except getattr(rex, "AuthenticationError", ()) as err:
    print(json.dumps({"status": "auth", "error": str(err)}))
except (rex.RpcError, rex.RaySystemError) as err:
    timed_out = "timed out" in str(err).lower() or "unavailable" in str(err).lower()
    print(json.dumps({"status": "timeout" if timed_out else "error", "error": str(err)}))
except Exception as err:
    print(json.dumps({"status": "broken", "error": f"{type(err).__name__}: {err}"}))
else:
    print(json.dumps({"status": "ok"}))
"""


def check_reachable(address: str, timeout_s: float, source: str = "from --address / resources.address") -> None:
    """Fail with one line unless a Ray cluster answers at ``address`` within ``timeout_s`` seconds.

    ``address`` is what ``ray.init`` takes: ``host:port`` of the GCS, ``auto`` (``RAY_ADDRESS``, else the last
    cluster ``ray start`` made on this machine) or ``ray://host:port`` (Ray Client). The host:port Ray will dial
    (``127.0.0.1`` becomes the node's IP, as in ``ray.init``) must accept a TCP connection (retried until the
    deadline: a head that is still starting is waited for); then, for a GCS, a GCS handshake in a child process,
    killed at the deadline, must answer. Starts no Ray and prints nothing.
    """
    deadline = time.monotonic() + timeout_s
    unset = "unset RAY_ADDRESS" if source == "from RAY_ADDRESS" else "leave out --address / resources.address"
    client = "://" in address
    shown, dialled = address, _dialled(address, source, unset)
    if dialled != address:
        shown = f"{address} ({dialled})"
    host, port = _host_port(dialled, address, source)
    if not _tcp_answers(host, port, deadline):
        raise ConfigError(
            f"resources.address: no Ray cluster answered at {shown} within {timeout_s:g} s ({source}); "
            f"start one with 'ray start --head', or {unset} to use an embedded local Ray"
        )
    if client:  # Ray Client has its own (30 s) connect timeout; ray.init's failure becomes one line
        return
    status, error = _gcs_answers(dialled, deadline)
    if status == "auth":
        raise ConfigError(
            f"resources.address: the Ray cluster at {shown} refused this driver ({source}): "
            f"{_first_line(error, sentence=True)}; it uses token authentication: set RAY_AUTH_MODE=token and "
            "give its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
        )
    if status == "timeout":
        raise ConfigError(
            f"resources.address: {shown} accepts connections but no Ray GCS answered within {timeout_s:g} s "
            f"({source}); give the GCS port ('ray start --head --port', default 6379), not the dashboard's (8265) "
            "or Ray Client's (use ray://host:10001 for that)"
        )
    if status == "error":
        raise ConfigError(
            f"resources.address: the Ray GCS at {shown} answered with an error ({source}): {_first_line(error)}"
        )
    if status == "broken":  # the probe itself failed (a Ray whose internals moved): ray.init decides
        logger.warning("could not probe the Ray GCS at %s first (%s); joining it without a timeout", dialled, error)


def _dialled(address: str, source: str, unset: str) -> str:
    """The address ``ray.init`` will dial for ``address`` (``auto`` resolved, localhost made the node IP)."""
    if "://" in address:
        return address
    from ray._private import services

    try:
        dialled = services.canonicalize_bootstrap_address(address)
    except ValueError:
        raise ConfigError(
            f"resources.address: expected host:port, 'auto' or ray://host:port, got {address!r} ({source})"
        ) from None
    except ConnectionError:  # "auto" and nothing found
        dialled = None
    if dialled is None:
        raise ConfigError(
            f"resources.address: {address!r} found no running Ray cluster on this machine ({source}); "
            f"start one with 'ray start --head', or {unset} to use an embedded local Ray"
        )
    return dialled


def _host_port(dialled: str, address: str, source: str) -> tuple[str, int]:
    hostport = dialled.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"resources.address: expected host:port, 'auto' or ray://host:port, got {address!r} ({source})"
        )
    return host, int(port)


def _tcp_answers(host: str, port: int, deadline: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection before ``deadline`` (refusals retried every 0.5 s)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            with socket.create_connection((host, port), timeout=min(left, 5.0)):
                return True
        except OSError as err:
            logger.debug("no answer at %s:%s: %s", host, port, err)
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.5, left))


def _gcs_answers(dialled: str, deadline: float) -> tuple[str, str]:
    """One GCS handshake with ``dialled`` in a child process, killed at ``deadline``: (status, error)."""
    left = deadline - time.monotonic()
    env = dict(os.environ)
    # Ray's per-try waits: connecting the channel, then the cluster id (whole seconds, at least 1).
    env["RAY_gcs_rpc_server_connect_timeout_s"] = "1"
    env["RAY_py_gcs_connect_timeout_s"] = str(max(1, math.ceil(left)))
    try:
        done = subprocess.run(
            [sys.executable, "-c", _GCS_PROBE, dialled],
            env=env,
            capture_output=True,
            text=True,
            timeout=max(left, 3.0),  # a live GCS answers in milliseconds; the child needs ~1 s to import Ray
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout", "the GCS handshake did not finish in time"
    except OSError as err:
        return "broken", str(err)
    for line in reversed(done.stdout.splitlines()):
        with contextlib.suppress(ValueError):
            found = json.loads(line)
            if isinstance(found, dict) and isinstance(found.get("status"), str):
                return found["status"], str(found.get("error", ""))
    return "broken", f"exit code {done.returncode}: {_first_line(done.stderr.strip()[-300:])}"


def _first_line(err: object, sentence: bool = False) -> str:
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line.split(". ", 1)[0].rstrip(".") if sentence else line


@contextlib.contextmanager
def _local_only_node_ip() -> Iterator[None]:
    """Let ``ray.init`` keep a loopback node IP.

    Ray 2.60 turns ``_node_ip_address="127.0.0.1"`` into the host's routable IP
    (``services.resolve_ip_for_localhost``) unless it runs in its local-only mode (``ENABLE_RAY_CLUSTER`` false,
    the Windows/macOS default). Every Ray server then binds to the node IP when it is a loopback one (GCS, raylet,
    object manager, workers, dashboard agent, runtime-env agent, metrics exporters), to all interfaces otherwise.
    Only the flag read while ``ray.init`` runs is switched; the processes it starts get the IP on their command line.
    """
    from ray._private import ray_constants

    if not hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        yield
        return
    previous = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous


# ---------------------------------------------------------------------- what the actors need
def actor_bundles(config: Config) -> list[dict[str, float]]:
    """One resource bundle per actor the run starts (denoisers first, then each reward component's pool)."""
    res = config.resources
    bundles = [{"CPU": res.denoiser_num_cpus, "GPU": res.denoiser_num_gpus}] * res.denoiser_actors
    for c in config.reward.components:
        bundles += [{"CPU": c.num_cpus}] * c.actors
    bundles = [{k: float(v) for k, v in b.items() if v > 0} for b in bundles]
    return [b for b in bundles if b]


def _need(config: Config) -> dict[str, float]:
    res = config.resources
    cpus = res.denoiser_actors * res.denoiser_num_cpus + sum(c.actors * c.num_cpus for c in config.reward.components)
    return {"CPU": float(cpus), "GPU": float(res.denoiser_actors * res.denoiser_num_gpus)}


def _have() -> dict[str, float]:
    import ray

    total = ray.cluster_resources()
    return {"CPU": float(total.get("CPU", 0)), "GPU": float(total.get("GPU", 0))}


def _fits(need: dict[str, float], have: dict[str, float]) -> bool:
    return all(need[k] <= have.get(k, 0) + _EPS for k in need)


# ---------------------------------------------------------------------- autoscaler
def has_autoscaler() -> bool:
    """Whether the connected cluster has an autoscaler that can add nodes.

    Checked in order (any probe that fails counts as "no"):

    1. the cluster config the autoscaler reports to the GCS lists a node group that can grow (the test Ray Data's
       ``is_autoscaling_enabled`` uses: ``ray._private.state.state.get_cluster_config()``);
    2. the GCS says autoscaler v2 runs (KV ``__autoscaler_v2_enabled`` = 1; KubeRay with autoscaler v2);
    3. the v1 autoscaler's status (KV ``__autoscaling_status``) names a node type other than the read-only
       provider's ``node_<node id>`` types that a plain ``ray start`` / ``ray.init`` cluster gets (KubeRay
       ``enableInTreeAutoscaling``, the cluster launcher).
    """
    return _config_can_grow() or _autoscaler_v2_enabled() or _v1_autoscaler_has_node_types()


def _config_can_grow() -> bool:
    try:
        import ray._private.state

        config = ray._private.state.state.get_cluster_config()
    except Exception:
        return False
    if config is None:
        return False
    return any(
        g.max_count == -1 or g.max_count > g.min_count
        for g in config.node_group_configs
        if g.resources and g.max_count != 0
    )


def _autoscaler_v2_enabled() -> bool:
    try:
        from ray.autoscaler.v2.utils import is_autoscaler_v2

        return bool(is_autoscaler_v2(fetch_from_server=True))
    except Exception:
        return False


def _v1_autoscaler_has_node_types() -> bool:
    try:
        from ray._private import ray_constants
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
        report = (json.loads(raw).get("autoscaler_report") or {}) if raw else {}
    except Exception:
        return False
    types = set(report.get("active_nodes") or {}) | set(report.get("pending_launches") or {})
    types |= set((report.get("node_type_mapping") or {}).values())
    return any(not _READONLY_NODE_TYPE.fullmatch(t) for t in types)


def _max_resources() -> dict[str, float] | None:
    """The most the autoscaler may grow the cluster to, when it reported its config to the GCS."""
    try:
        import ray._private.state

        return ray._private.state.state.get_max_resources_from_cluster_config()
    except Exception:
        return None


def _request(bundles: list[dict[str, float]]) -> None:
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=bundles)


def release_resources() -> None:
    """Withdraw the autoscaler request :func:`check_resources` made (a request stays until replaced)."""
    try:
        _request([])
    except Exception as err:  # the cluster may already be gone at shutdown
        logger.debug("could not withdraw the autoscaler request: %s", err)


# ---------------------------------------------------------------------- checks
def check_resources(config: Config) -> bool:
    """Fail fast when the cluster cannot hold the actors (Ray would wait for them forever).

    With an autoscaler a cluster too small right now is not refused: one bundle per actor is requested from the
    autoscaler (refused only when its reported maximum is too small) and the caller waits with
    :func:`wait_for_resources`. Returns whether the actors fit the cluster as it is now.
    """
    need = _need(config)
    have = _have()
    if _fits(need, have):
        return True
    if has_autoscaler():
        most = _max_resources()
        if most:
            for key, name in (("CPU", "CPUs"), ("GPU", "GPUs")):
                if need[key] > most.get(key, 0) + _EPS:
                    raise ConfigError(
                        f"resources: the actors need {need[key]:g} {name} but the cluster's autoscaler can grow it "
                        f"to at most {most.get(key, 0):g}"
                    )
        try:
            _request(actor_bundles(config))
        except Exception as err:  # the pending actors still ask the autoscaler for their resources
            logger.warning("could not ask the autoscaler for the actors' resources: %s", err)
        else:
            logger.info("asked the autoscaler for %s (the cluster has %s)", _fmt(need), _fmt(have))
        return False
    if need["CPU"] > have["CPU"] + _EPS:
        raise ConfigError(
            f"resources: the actors need {need['CPU']:g} CPUs but the cluster has {have['CPU']:g}; "
            "lower resources.denoiser_num_cpus or the reward components' actors/num_cpus"
        )
    raise ConfigError(
        f"resources.denoiser_num_gpus: the denoisers need {need['GPU']:g} GPUs but the cluster has {have['GPU']:g}"
    )


def wait_for_resources(
    config: Config,
    progress: Callable[[dict], None] | None = None,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
) -> None:
    """Wait until the cluster's total CPUs/GPUs can hold the actors, at most ``resources.start_timeout_s``.

    While waiting, ``progress`` gets ``{"kind": "waiting", "need": {"CPU", "GPU"}, "have": {"CPU", "GPU"},
    "elapsed_s", "timeout_s"}`` at the first poll, whenever ``have`` changes and at least every 10 s.
    Raises ConfigError after the deadline.
    """
    timeout_s = config.resources.start_timeout_s if timeout_s is None else timeout_s
    need = _need(config)
    began = time.monotonic()
    reported: tuple[dict[str, float], float] | None = None
    while True:
        have = _have()
        if _fits(need, have):
            return
        elapsed = time.monotonic() - began
        if elapsed >= timeout_s:
            raise ConfigError(
                f"resources.start_timeout_s: the cluster did not provide {need['CPU']:g} CPUs / {need['GPU']:g} GPUs "
                f"within {timeout_s:g} s (it has {have['CPU']:g} CPUs / {have['GPU']:g} GPUs)"
            )
        if progress is not None and (reported is None or reported[0] != have or elapsed - reported[1] >= 10):
            progress(
                {"kind": "waiting", "need": need, "have": have, "elapsed_s": round(elapsed, 1), "timeout_s": timeout_s}
            )
            reported = (have, elapsed)
        time.sleep(max(0.0, min(poll_s, timeout_s - elapsed)))


def _fmt(amounts: dict[str, float]) -> str:
    return f"{amounts['CPU']:g} CPUs / {amounts['GPU']:g} GPUs"
