"""The processes of one Ray instance on this machine: find them, list their sockets, stop them (and only them).

A Ray started with its own ``--temp-dir`` (or a session directory) names it on the command line
of every server it starts (GCS, raylet, agents); workers are their descendants. Used by the
cluster walk-through and tests to stop only their own Ray and to check it listens on loopback:

    python -m svdd_ray.engine.ray_processes stop TEMP_DIR
    python -m svdd_ray.engine.ray_processes check-loopback TEMP_DIR
"""

from __future__ import annotations

import importlib
import ipaddress
import sys

import ray  # noqa: F401 - imported first: Ray puts its vendored psutil on sys.path

psutil = importlib.import_module("psutil")


def processes(marker: str, include_self: bool = False) -> dict:
    """Processes whose command line names ``marker``, with all their descendants (this process's own line aside)."""
    me = set() if include_self else {p.pid for p in [psutil.Process(), *psutil.Process().parents()]}
    found = {}
    for proc in psutil.process_iter():
        try:
            if proc.pid not in me and any(marker in arg for arg in proc.cmdline()):
                found.update({p.pid: p for p in [proc, *proc.children(recursive=True)]})
        except psutil.Error:
            pass
    return found


def sockets(procs: dict) -> list[tuple[int, str, str, str, int]]:
    """``(pid, name, tcp|udp, ip, port)`` of each listening TCP socket and bound, unconnected UDP socket."""
    out = []
    for proc in procs.values():
        try:
            name, conns = proc.name(), proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        for c in conns:
            udp = c.type == 2
            if c.status == psutil.CONN_LISTEN or (udp and not c.raddr):
                out.append((proc.pid, name, "udp" if udp else "tcp", c.laddr.ip, c.laddr.port))
    return out


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, and 127.x.x.x seen through an IPv4-mapped IPv6 socket."""
    address = ipaddress.ip_address(ip.split("%")[0])
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def stop(marker: str, grace_s: float = 5.0) -> int:
    """SIGTERM the processes of ``marker``, SIGKILL what is left after ``grace_s``; how many there were."""
    procs = processes(marker)
    for proc in procs.values():
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(list(procs.values()), timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=10)
    return len(procs)


def main(argv: list[str]) -> int:
    command, marker = argv
    if command == "stop":
        print(f"stopped the Ray of {marker}: {stop(marker)} processes")
        return 0
    found = sockets(processes(marker))
    exposed = [s for s in found if not is_loopback(s[3])]
    print(f"{len(found)} listening sockets, {len(exposed)} beyond loopback" + (f": {exposed}" if exposed else ""))
    return 0 if found and not exposed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
