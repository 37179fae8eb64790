"""Which worker process holds a client's connection to a server of several workers (Linux
/proc), and client connections spread evenly over the workers (bench/workers.py)."""

from __future__ import annotations

import os
from contextlib import suppress

import httpx

from bench.chat_roundtrip import REPLY_DEADLINE


class SocketOwners:
    """Which of the server's processes holds the server side of a loopback TCP connection
    to `port`: the socket's inode from /proc/net/tcp, then the process with that inode
    among its file descriptors."""

    def __init__(self, url: str, pids: list[int]) -> None:
        self.port = int(url.rsplit(":", 1)[1])
        self.pids = pids
        self._known: dict[int, int] = {}  # client port -> worker pid

    def connections(self) -> dict[int, int]:
        """Established connections to the server: client port -> socket inode."""
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table][1:]
        return {int(row[2].rsplit(":", 1)[1], 16): int(row[9]) for row in rows
                if row[3] == "01" and int(row[1].rsplit(":", 1)[1], 16) == self.port}

    def holders(self) -> dict[int, int]:
        """Socket inode -> the worker pid holding it."""
        held = {}
        for pid in self.pids:
            with suppress(OSError):  # the process or the descriptor went meanwhile
                for fd in os.scandir(f"/proc/{pid}/fd"):
                    with suppress(OSError):
                        link = os.readlink(fd.path)
                        if link.startswith("socket:["):
                            held[int(link[8:-1])] = pid
        return held

    def owner(self, client_port: int) -> int | None:
        if client_port not in self._known:
            inode = self.connections().get(client_port)
            pid = self.holders().get(inode) if inode is not None else None
            if pid is None:
                return None
            self._known[client_port] = pid
        return self._known[client_port]

    def spread(self) -> dict[str, int]:
        """Established connections per worker pid."""
        held = self.holders()
        counts: dict[str, int] = {}
        for inode in self.connections().values():
            key = str(held.get(inode, "unknown"))
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))



class Connection:
    """One keep-alive connection (an httpx client limited to one) that remembers the local
    port its last request went out on, so the worker it landed on can be looked up."""

    def __init__(self, url: str) -> None:
        self.port: int | None = None
        self.http = httpx.AsyncClient(
            base_url=url, timeout=REPLY_DEADLINE, limits=httpx.Limits(max_connections=1),
            event_hooks={"response": [self._remember]})

    async def _remember(self, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        if stream is not None:
            self.port = int(stream.get_extra_info("client_addr")[1])


async def balanced_connections(url: str, workers: list[int], count: int,
                               owners: SocketOwners) -> list[Connection]:
    """`count` connections, as many on each worker as the kernel lets us have: new ones are
    opened until every worker has its share (the surplus is closed), in turn by worker."""
    share = -(-count // len(workers))
    kept: dict[int, list[Connection]] = {pid: [] for pid in workers}
    for _ in range(20 * count):
        if all(len(conns) >= share for conns in kept.values()):
            break
        conn = Connection(url)
        (await conn.http.get("/api/server/ping")).raise_for_status()
        pid = owners.owner(conn.port) if conn.port else None
        if pid in kept and len(kept[pid]) < share:
            kept[pid].append(conn)
        else:
            await conn.http.aclose()
    by_worker = [conns for conns in kept.values() if conns]
    interleaved = [conns[i] for i in range(share) for conns in by_worker if i < len(conns)]
    for conn in interleaved[count:]:
        await conn.http.aclose()
    return interleaved[:count]
