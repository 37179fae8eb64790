"""`GET /api/server/debug/metrics`: the Prometheus text format (as Prometheus's own parser
reads it) of what a user of the server watches: requests by route pattern and status with
their latency, agent turns, model calls, open sockets, store latency; and under `eliza serve
--workers 2`, every worker's share added up, whichever worker answers the scrape."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import LiveServer
from eliza.ids import DEFAULT_SERVER_ID
from tests.polling import wait_until_sync

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/api/server/debug/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def _chat(url: str) -> None:
    agent = httpx.get(f"{url}/api/agents", timeout=10).json()["data"]["agents"][0]
    user = str(uuid.uuid4())
    channel = httpx.post(f"{url}/api/messaging/channels", timeout=10, json={
        "name": "metrics", "type": "DM", "message_server_id": DEFAULT_SERVER_ID,
        "participantCentralUserIds": [user, agent["id"]]}).json()["data"]["id"]
    posted = httpx.post(f"{url}/api/messaging/channels/{channel}/messages", timeout=10,
                        json={"author_id": user, "content": "I feel measured"})
    assert posted.status_code == 201, posted.text
    asked = posted.json()["userMessage"]["id"]

    def answered() -> bool:
        listed = httpx.get(f"{url}/api/messaging/channels/{channel}/messages",
                           timeout=10).json()["data"]["messages"]
        return any(m["inReplyToRootMessageId"] == asked for m in listed)

    wait_until_sync(answered, within=20, message="the agent's reply")


def test_one_process_counts_requests_turns_model_calls_and_the_store(
        live_server: LiveServer) -> None:
    url = live_server.url
    before = scrape(url)  # the start-up's own requests (readiness pings) are not ours
    for _ in range(5):
        assert httpx.get(f"{url}/api/server/ping", timeout=10).status_code == 200
    assert httpx.get(f"{url}/api/agents/not-an-id", timeout=10).status_code == 400
    for n in range(3):  # three paths, one label: no path grows the metrics
        assert httpx.get(f"{url}/api/nothing-here-{n}", timeout=10).status_code == 404
    _chat(url)

    samples = scrape(url)

    def grew(name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    requests = "eliza_http_requests_total"
    assert grew(requests, method="GET", route="/api/server/ping", status="200") == 5
    assert grew(requests, route="/api/agents/<agent_id>", status="400") == 1
    assert grew(requests, route="unmatched", status="404") == 3
    assert grew(requests, method="POST", status="201",
                route="/api/messaging/channels/<channel_id>/messages") == 1
    assert grew("eliza_http_request_duration_seconds_count", route="/api/server/ping") == 5
    assert value(samples, "eliza_agent_turns_total", outcome="ok") >= 1
    assert value(samples, "eliza_agent_turn_duration_seconds_count") >= 1
    assert value(samples, "eliza_model_calls_total", model_type="TEXT_LARGE",
                 outcome="ok") >= 1
    assert value(samples, "eliza_store_operation_duration_seconds_count",
                 operation="write") >= 2  # the message, the reply
    assert value(samples, "eliza_store_operation_duration_seconds_count",
                 operation="read") >= 1
    assert ("eliza_socket_connections", frozenset()) in samples


@pytest.mark.postgres
@pytest.mark.sqlite_only
@pytest.mark.cluster
def test_a_scrape_of_any_worker_adds_up_the_whole_host(tmp_path: Path) -> None:
    from tests.cluster.deployment import deployment

    pings = 60
    ping = {"route": "/api/server/ping", "status": "200"}
    with deployment(tmp_path, hosts=1, workers=2) as (host,):
        before = value(scrape(host.url), "eliza_http_requests_total", **ping)
        for _ in range(pings):  # a connection each: the kernel spreads them
            assert httpx.get(f"{host.url}/api/server/ping", timeout=10).status_code == 200
        _chat(host.url)
        # Each scrape lands on either worker; every one counts all the pings.
        counted = {value(scrape(host.url), "eliza_http_requests_total", **ping)
                   for _ in range(8)}
        assert counted == {before + pings}
        assert value(scrape(host.url), "eliza_agent_turns_total", outcome="ok") >= 1
