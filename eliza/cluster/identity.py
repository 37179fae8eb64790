"""Who this worker is, for the leases it holds, the sessions it serves and the events it
sends: an id unique in the deployment (a restarted process is a new worker), its host and
process id for people reading `/api/agents` or the logs."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerIdentity:
    id: str
    host: str
    pid: int

    @classmethod
    def new(cls) -> WorkerIdentity:
        # Short, so it can prefix Engine.IO session ids; random, so a restart on the same
        # pid is a different worker.
        return cls(f"w{secrets.token_hex(5)}", socket.gethostname(), os.getpid())

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "host": self.host, "pid": self.pid}
