"""Waiting for an agent's reply on a busy bus: a reply waiter whose bus subscription falls
behind (and is cut off) still gets the reply, it never reports a timeout for it.

The messaging service is built from its collaborators (a real SQLite store, the in-process
bus, settings and a directory with no agents); messages are posted through `post_message`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from conftest import make_settings
from eliza.bus import Event, InProcessBus, NewMessage
from eliza.errors import AgentNotFound
from eliza.messaging import service as service_module
from eliza.messaging.service import MessagingService
from eliza.store import core_migrations, store_for
from tests.polling import wait_until

USER = "965189c0-221e-42f3-89eb-fb91df1f8fe8"
AGENT = "6a1c9b52-0b1e-4f43-9d3e-3c1f5b0b2a11"
WATCH = 4  # REPLY_WATCH made small, so a handful of events overflows a waiter


class NoAgents:
    """An `AgentDirectory` that knows no agent: posting and waiting need none."""

    def get(self, agent_id: str) -> Any:
        raise AgentNotFound(agent_id)

    def is_agent(self, entity_id: str) -> bool:
        return False

    def agent_ids(self) -> list[str]:
        return []

    def runtime(self, agent_id: str) -> Any:
        return None

    def require_runtime(self, agent_id: str) -> Any:
        raise AgentNotFound(agent_id)

    def runtimes(self) -> list[Any]:
        return []

    def is_running(self, agent_id: str) -> bool:
        return False

    def require_running(self, agent_id: str) -> None:
        raise AgentNotFound(agent_id)

    def runtime_here(self, agent_id: str) -> Any:
        return None

    def opened_character(self, agent_id: str) -> dict[str, Any]:
        raise AgentNotFound(agent_id)


class BurstyBus(InProcessBus):
    """The in-process bus, with a burst of other traffic published just before one chosen
    message: that message's event then finds a waiter's subscription full, and is dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.burst_before: str | None = None  # a message id
        self.burst: list[Event] = []

    def publish(self, event: Event) -> None:
        if isinstance(event, NewMessage) and event.message["id"] == self.burst_before:
            for other in self.burst:
                super().publish(other)
        super().publish(event)


@dataclass
class Chat:
    messaging: MessagingService
    bus: BurstyBus
    channel: str
    question: dict[str, Any]  # the user's message the agent answers
    noise: NewMessage  # an unrelated message's event, in another channel


@pytest.fixture
async def chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Chat]:
    monkeypatch.setattr(service_module, "REPLY_WATCH", WATCH)
    store = store_for(make_settings(tmp_path))
    await store.open([core_migrations])
    bus = BurstyBus()
    messaging = MessagingService(store, bus, make_settings(tmp_path), NoAgents())
    channel = await messaging.create_channel(name="help", participants=[USER, AGENT])
    other = await messaging.create_channel(name="elsewhere", participants=[USER])
    question = await messaging.post_message(channel_id=channel["id"], author_id=USER,
                                            content="Can you help me?")
    unrelated = await messaging.post_message(channel_id=other["id"], author_id=USER,
                                             content="small talk")
    try:
        yield Chat(messaging, bus, channel["id"], question.message, NewMessage(unrelated.struct))
    finally:
        store.close()


def same_message(got: dict[str, Any] | None, posted: dict[str, Any]) -> bool:
    """The waiter's answer is the posted reply (compared on the CentralMessage fields every
    answer carries)."""
    keys = ("id", "channelId", "authorId", "content", "inReplyToRootMessageId", "sourceType")
    return got is not None and {k: got.get(k) for k in keys} == {k: posted[k] for k in keys}


async def reply(chat: Chat, text: str = "Of course.", **kw: Any) -> dict[str, Any]:
    posted = await chat.messaging.post_message(
        channel_id=chat.channel, author_id=AGENT, content=text, in_reply_to=chat.question["id"],
        source_type="agent_response", **kw)
    return posted.message


async def test_reply_published_after_the_waiter_fell_behind_is_returned(chat: Chat) -> None:
    got: list[dict[str, Any] | None] = []

    async def waiter() -> None:
        got.append(await chat.messaging.wait_for_reply(chat.channel, chat.question["id"],
                                                       within=10, author_id=AGENT))

    subscribers = chat.bus.statistics()["subscribers"]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await wait_until(lambda: chat.bus.statistics()["subscribers"] > subscribers,
                         message="the waiter to subscribe to the bus")
        # Published without a checkpoint, so the waiter cannot keep up: it is cut off.
        for _ in range(WATCH * 3):
            chat.bus.publish(chat.noise)
        answer = await reply(chat)
    assert len(got) == 1
    assert same_message(got[0], answer), got  # not None: a busy bus is not a timeout


async def test_reply_dropped_with_the_overflow_is_found_in_the_store(chat: Chat) -> None:
    got: list[dict[str, Any] | None] = []
    # Opened before the reply exists, so the waiter only listens to the bus: the store is
    # looked at only because its subscription overflowed.
    watching = chat.messaging.watch_replies(chat.question["id"])

    async def waiter() -> None:
        got.append(await chat.messaging.wait_for_reply(
            chat.channel, chat.question["id"], within=10, author_id=AGENT, watching=watching))

    answer_id = "0f6f2a9e-6f4c-4a55-9a57-2f1f0c7c4d2e"
    # Enough other events ahead of the reply to fill the waiter's buffer (plus the one its
    # blocked receive takes at once): the reply's own event is dropped by the cut-off.
    chat.bus.burst_before = answer_id
    chat.bus.burst = [chat.noise] * (WATCH + 1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        answer = await reply(chat, message_id=answer_id)
    assert watching.overflowed  # the reply really was lost on the bus
    assert len(got) == 1
    assert same_message(got[0], answer), got


async def test_a_reply_that_never_comes_is_still_a_timeout(chat: Chat) -> None:
    # The other side of the same contract: overflowing repeatedly is no reply either.
    async def flood() -> None:
        while True:
            for _ in range(WATCH * 2):
                chat.bus.publish(chat.noise)
            await trio.sleep(0.01)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(flood)
        with trio.fail_after(5):
            got = await chat.messaging.wait_for_reply(chat.channel, chat.question["id"],
                                                      within=0.3)
        nursery.cancel_scope.cancel()
    assert got is None
