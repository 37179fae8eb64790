"""A live server whose data directory is a small tmpfs of its own: `hypercorn` runs inside
`unshare -m` (a private mount namespace, so nothing of it shows outside), and the test acts
on that disk from inside the namespace with `nsenter -t <server pid> -m` (fill it, free it,
make a directory read-only). Needs root, as CI has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import LiveServer


def require_root() -> None:
    # Never skipped: the behaviour under test exists only on a real full/read-only disk.
    if os.geteuid() != 0:
        raise AssertionError("these tests mount a tmpfs in a mount namespace: run them as root")


class TmpfsServer(LiveServer):
    """The live server, its data directory on an 8 MB tmpfs mounted at `disk`."""

    def __init__(self, disk: Path, size: str = "8m", env: dict[str, str] | None = None) -> None:
        super().__init__(disk / ".eliza", env)
        self.disk = disk
        self.size = size

    @property
    def log_path(self) -> Path:
        # The log stays on the test's own disk: the server's stdout is opened before the mount.
        return self.disk.parent / "server.log"

    def command(self) -> list[str]:
        mount = 'mount -t tmpfs -o size="$1" tmpfs "$0" && shift && exec "$@"'
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", mount,
                str(self.disk), self.size, *super().command()]

    def start(self, timeout: float = 30.0, *, port: int | None = None) -> None:
        require_root()
        self.disk.mkdir(parents=True, exist_ok=True)
        super().start(timeout, port=port)

    def inside(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `command` in the server's mount namespace (where its tmpfs is)."""
        assert self.proc is not None
        result = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", *command],
                                capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{command} failed ({result.returncode}): {result.stderr}")
        return result

    def free_bytes(self) -> int:
        blocks, size = self.inside("stat", "-f", "-c", "%a %S", str(self.disk)).stdout.split()
        return int(blocks) * int(size)

    def fill(self) -> None:
        """Fill the tmpfs to its last byte (dd stops at ENOSPC)."""
        self.inside("dd", "if=/dev/zero", f"of={self.disk}/filler", "bs=64k", check=False)
        assert self.free_bytes() == 0, "the disk is not full"

    def free(self) -> None:
        self.inside("rm", "-f", f"{self.disk}/filler")

    def integrity_check(self) -> str:
        code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
                " print(c.execute('PRAGMA integrity_check').fetchone()[0])")
        return self.inside(sys.executable, "-c", code,
                           str(self.data_dir / "eliza.db")).stdout.strip()


def tmpfs_server(tmp_path: Path, size: str = "8m") -> TmpfsServer:
    disk = tmp_path / "disk"
    server = TmpfsServer(disk, size)
    server.start()
    return server
