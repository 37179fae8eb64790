"""The fuzzer's client and oracle: every request goes to a live server with a deadline, and
every answer is judged against the API's promises (no undocumented 5xx, no hang, the error
envelope on every /api refusal, strict JSON), then the server's log is read for errors."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conftest import LiveServer

# One INFO line per request would bury a failure under thousands of them.
logging.getLogger("httpx").setLevel(logging.WARNING)

CLIENT_TIMEOUT = 10.0  # a request that takes longer is a hang
CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
# The 5xx answers docs/api.md promises; anything else is a bug.
DOCUMENTED_5XX = {
    501: {"NOT_IMPLEMENTED"},
    503: {"MODEL_NOT_AVAILABLE", "EMBEDDING_NOT_AVAILABLE", "EMBEDDING_FAILED",
          "SERVICE_UNAVAILABLE", "TOO_MANY_JOBS"},
    507: {"INSUFFICIENT_STORAGE"},
}
# Health answers 503 while no agent runs (its body is the health report, not an envelope).
HEALTH_PATHS = {"/api/server/health", "/api/runtime/health", "/health"}
# POST /api/memory/groups/<id> is a 500 CREATE_ERROR when every agent fails (docs/api.md,
# as ElizaOS answers it).
GROUPS = re.compile(r"^/api/memory/groups(/[^/]+)?$")  # group rooms: all agents failed
LOG_PROBLEM = re.compile(r" (ERROR|CRITICAL) |\[(ERROR|CRITICAL)\]|^Traceback ", re.M)


def strict_loads(raw: bytes) -> Any:
    """JSON as JS `JSON.parse` reads it (NaN and Infinity are errors)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(raw, parse_constant=refuse)


@dataclass
class Fuzzer:
    """One live server under fuzz: sends, judges, and keeps what went wrong."""

    server: LiveServer
    problems: list[str] = field(default_factory=list)
    sent: int = 0
    log_offset: int = 0
    _client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.server.url, timeout=CLIENT_TIMEOUT,
                headers={"Host": f"127.0.0.1:{self.server.port}", **self.server.auth_headers})
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- sending --------------------------------------------------------------------------

    def send(self, method: str, target: str, *, content: bytes | None = None,
             content_type: str | None = "application/json",
             headers: Mapping[str, str] | None = None, files: Any = None,
             data: Any = None, what: str = "") -> httpx.Response | None:
        """Send one request; None when it failed at the transport (then it is a problem)."""
        self.sent += 1
        hdrs = dict(headers or {})
        if content is not None and content_type is not None:
            hdrs.setdefault("Content-Type", content_type)
        try:
            request = self.client.build_request(method, target, content=content,
                                                headers=hdrs, files=files, data=data)
            response = self.client.send(request, stream=True)
            try:
                # An event stream never ends: its answer is its status and headers.
                streams = response.headers.get("content-type", "").startswith(
                    "text/event-stream")
                raw = b"" if streams else response.read()
            finally:
                response.close()
        except httpx.TimeoutException:
            self.problem(method, target, what, "HANG: no answer within "
                         f"{CLIENT_TIMEOUT} s")
            return None
        except httpx.TransportError as exc:
            self.problem(method, target, what, f"connection failed: {exc!r}")
            self.close()  # start a fresh connection for the next request
            return None
        self.judge(method, target, response, what, raw)
        return response

    def send_json(self, method: str, target: str, body: Any, what: str = ""
                  ) -> httpx.Response | None:
        raw = json.dumps(body).encode()
        return self.send(method, target, content=raw, what=what or raw[:200].decode())

    # -- judging --------------------------------------------------------------------------

    def problem(self, method: str, target: str, what: str, why: str) -> None:
        self.problems.append(f"{method} {target[:300]} [{what[:300]}]: {why}")

    def judge(self, method: str, target: str, response: httpx.Response, what: str,
              raw: bytes) -> None:
        status = response.status_code
        path = target.split("?", 1)[0]
        is_json = response.headers.get("content-type", "").startswith("application/json")
        body: Any = None
        if is_json:
            try:
                body = strict_loads(raw)
            except ValueError as exc:
                self.problem(method, target, what, f"{status} with a body that is not strict "
                             f"JSON ({exc}): {raw[:200]!r}")
                return
        if status >= 500:
            if path in HEALTH_PATHS and status == 503:
                return
            code = _code(body)
            if status == 500 and code == "CREATE_ERROR" and method == "POST" and \
                    GROUPS.match(path):
                return
            if code not in DOCUMENTED_5XX.get(status, set()):
                self.problem(method, target, what, f"undocumented {status}: {raw[:300]!r}")
                return
        if status >= 400 and path.startswith("/api/"):
            envelope = _envelope_problem(body)
            if envelope:
                self.problem(method, target, what, f"{status} {envelope}: {raw[:300]!r}")

    # -- the server's log -----------------------------------------------------------------

    def mark_log(self) -> None:
        self.log_offset = len(self.server.log())

    def log_problems(self, expected: Iterable[str] = ()) -> list[str]:
        """ERROR/CRITICAL lines and tracebacks written since `mark_log`, except those
        matching one of the `expected` patterns."""
        text = self.server.log()[self.log_offset:]
        allowed = [re.compile(pattern) for pattern in expected]
        return [line for line in text.splitlines()
                if LOG_PROBLEM.search(line) and not any(p.search(line) for p in allowed)]

    def assert_clean(self, expected_log: Iterable[str] = ()) -> None:
        problems = self.problems + [f"server log: {line}"
                                    for line in self.log_problems(expected_log)]
        assert not problems, (f"{len(problems)} problems in {self.sent} requests:\n"
                              + "\n".join(problems[:60]))

    # -- the server process ---------------------------------------------------------------

    def rss_kib(self) -> int:
        """The server process's resident set (hypercorn runs one worker in-process)."""
        assert self.server.proc is not None
        status = Path(f"/proc/{self.server.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def _code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return code if isinstance(code, str) else None
    return None


def _envelope_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "without a JSON envelope"
    if body.get("success") is not False:
        return "envelope without success: false"
    error = body.get("error")
    if not isinstance(error, dict):
        return "envelope without an error object"
    if not isinstance(error.get("code"), str) or not CODE.match(error["code"]):
        return "error.code is not UPPER_SNAKE"
    if not isinstance(error.get("message"), str):
        return "error.message is not a string"
    return None
