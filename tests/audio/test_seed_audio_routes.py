"""The audio routes the ElizaOS API reference names: `synthesize`, `conversation`, `voices`
and `conversation/status`.

In process, agents speak through small plugins of this file: `chime` (a beep per character,
two voices, replies that can be held back), `hum` (a speech model registered the old way,
with no voice list) and `cracked` (a voice list that fails or hangs). Against a live server,
the real speech plugin: espeak-ng's own voice list, a spoken round trip, a voice chosen from
the list, and the status after a spoken conversation."""

from __future__ import annotations

import io
import subprocess
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from conftest import make_settings, open_app
from eliza import ModelProvider, ModelType, Voice, hookimpl
from eliza.plugins import make_plugin_manager
from eliza.runtime.agent import AgentRuntime
from eliza.server import AgentServer
from tests.media.helpers import SAMPLES
from tests.polling import wait_until

from .helpers import AUDIO, error_of, synthesize, upload

UNKNOWN = "6d1c1b7e-2f1a-4a7e-9d7b-0c6a4f9e1a11"
SAMPLES_PER_CHAR = 80  # 10 ms of 8 kHz audio
CHIME_VOICES = [Voice("chime/high", "High chime", "en", "female"),
                Voice("chime/low", "Low chime", "en", "male")]


def chime_wav(text: str) -> bytes:
    """8 kHz mono 16-bit: one 10 ms square-wave beep per character of `text`."""
    beep = (b"\xff\x3f" * 10 + b"\x01\xc0" * 10) * (SAMPLES_PER_CHAR // 20)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(beep * len(text))
    return out.getvalue()


def spoken_chars(audio: bytes) -> int:
    with wave.open(io.BytesIO(audio)) as wav:
        frames: int = wav.getnframes()
    return frames // SAMPLES_PER_CHAR


@dataclass(eq=False)  # pluggy tells plugins apart by equality
class Chime:
    replies: trio.Event = field(default_factory=trio.Event)  # set: the agent replies

    def __post_init__(self) -> None:
        self.replies.set()

    async def speak(self, runtime: AgentRuntime, params: dict[str, Any]) -> bytes:
        if "boom" in params["text"]:
            raise RuntimeError("the chime cracked")
        return chime_wav(params["text"])

    async def voices(self, runtime: AgentRuntime) -> list[Voice]:
        return CHIME_VOICES

    async def reply(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        await self.replies.wait()
        return f"noted: {params['message']}"

    @hookimpl
    def register_models(self, server: AgentServer) -> list[ModelProvider]:
        return [ModelProvider(ModelType.TEXT_TO_SPEECH, self.speak, voices=self.voices),
                ModelProvider(ModelType.TEXT_LARGE, self.reply)]


async def hum(runtime: AgentRuntime, params: dict[str, Any]) -> bytes:
    return chime_wav(params["text"])


class Hum:
    @hookimpl
    def register_models(self, server: AgentServer) -> dict[ModelType, Any]:
        return {ModelType.TEXT_TO_SPEECH: hum}


class Cracked:
    async def voices(self, runtime: AgentRuntime) -> list[Voice]:
        if runtime.get_setting("HANG"):
            await trio.sleep_forever()
        raise OSError("the voice catalogue is unreadable")

    @hookimpl
    def register_models(self, server: AgentServer) -> list[ModelProvider]:
        return [ModelProvider(ModelType.TEXT_TO_SPEECH, hum, voices=self.voices)]


@dataclass
class Speakers:
    client: Any
    chime: Chime
    ids: dict[str, str]


async def _agent(client: Any, character: dict[str, Any], start: bool = True) -> str:
    created = await client.post("/api/agents", json={"characterJson": {"bio": ["test"],
                                                                       **character}})
    assert created.status_code == 201, await created.get_data()
    agent_id = str((await created.get_json())["data"]["id"])
    if start:
        assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
    return agent_id


@asynccontextmanager
async def speakers(tmp_path: Path, **env: str) -> AsyncIterator[Speakers]:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false", **env)
    chime = Chime()
    plugins = [("chime", chime), ("hum", Hum()), ("cracked", Cracked())]
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=plugins))
    async with open_app(settings, server) as app:
        client = app.test_client()
        ids = {
            "chime": await _agent(client, {"name": "Chimer", "plugins": ["chime"]}),
            "hum": await _agent(client, {"name": "Hummer", "plugins": ["hum"]}),
            "cracked": await _agent(client, {"name": "Cracked", "plugins": ["cracked"]}),
            "hang": await _agent(client, {"name": "Hanger", "plugins": ["cracked"],
                                          "settings": {"HANG": "yes"}}),
            "plain": await _agent(client, {"name": "Mute", "plugins": []}),
            "stopped": await _agent(client, {"name": "Off", "plugins": ["chime"]}, start=False),
        }
        yield Speakers(client, chime, ids)


async def _json(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = await response.get_json()
    return body


async def _status(client: Any, agent_id: str) -> dict[str, Any]:
    response = await client.get(f"{AUDIO}/{agent_id}/conversation/status")
    assert response.status_code == 200, await response.get_data()
    data: dict[str, Any] = (await _json(response))["data"]
    return data


async def test_synthesize_speaks_the_text_with_the_agents_model(tmp_path: Path) -> None:
    async with speakers(tmp_path) as s:
        spoken = await s.client.post(f"{AUDIO}/{s.ids['chime']}/synthesize",
                                     json={"text": "  hello there  "})
        assert spoken.status_code == 200
        assert spoken.headers["Content-Type"] == "audio/wav"
        audio = await spoken.get_data()
        assert spoken_chars(audio) == len("hello there")
        same = await s.client.post(f"{AUDIO}/{s.ids['chime']}/speech/generate",
                                   json={"text": "hello there"})
        assert await same.get_data() == audio


async def test_conversation_speaks_the_agents_reply(tmp_path: Path) -> None:
    async with speakers(tmp_path) as s:
        agent = s.ids["chime"]
        before = await _status(s.client, agent)
        assert before == {"agentId": agent, "agentName": "Chimer", "canHear": False,
                          "canSpeak": True,
                          "models": {"TRANSCRIPTION": None, "TEXT_TO_SPEECH": "chime"},
                          "inFlight": 0, "completed": 0, "failed": 0,
                          "lastConversationAt": None, "lastError": None}
        response = await s.client.post(f"{AUDIO}/{agent}/conversation",
                                       json={"text": "I hum", "userName": "Ada"})
        assert response.status_code == 200, await response.get_data()
        assert spoken_chars(await response.get_data()) == len("noted: I hum")
        after = await _status(s.client, agent)
        assert after["completed"] == 1
        assert after["inFlight"] == 0
        assert isinstance(after["lastConversationAt"], int)


async def test_status_follows_conversations_in_flight_and_failed(tmp_path: Path) -> None:
    async with speakers(tmp_path) as s:
        agent, chime = s.ids["chime"], s.chime
        chime.replies = trio.Event()  # the agent holds its replies back
        answers: list[Any] = []

        async def talk() -> None:
            answers.append(await s.client.post(f"{AUDIO}/{agent}/conversation",
                                               json={"text": "wait for me"}))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(talk)

            async def talking() -> dict[str, Any] | None:
                status = await _status(s.client, agent)
                return status if status["inFlight"] == 1 else None

            waiting = await wait_until(talking, message="a conversation in flight")
            assert waiting["completed"] == 0
            chime.replies.set()
        assert answers[0].status_code == 200
        # The reply ("noted: boom") cannot be spoken: a failed conversation.
        cracked = await s.client.post(f"{AUDIO}/{agent}/conversation", json={"text": "boom"})
        assert cracked.status_code == 500
        assert (await _json(cracked))["error"]["code"] == "PROCESSING_ERROR"
        status = await _status(s.client, agent)
        assert (status["inFlight"], status["completed"], status["failed"]) == (0, 1, 1)
        error = status["lastError"]
        assert error["code"] == "PROCESSING_ERROR"
        assert "the chime cracked" in error["message"]
        assert error["at"] >= status["lastConversationAt"]
        # Bad input is no conversation at all.
        refused = await s.client.post(f"{AUDIO}/{agent}/conversation", json={"text": " "})
        assert refused.status_code == 400
        assert (await _status(s.client, agent))["failed"] == 1


async def test_voices_of_the_agents_speech_model(tmp_path: Path) -> None:
    async with speakers(tmp_path, ELIZA_MODEL_TIMEOUT="1") as s:
        listed = await s.client.get(f"{AUDIO}/{s.ids['chime']}/voices")
        assert listed.status_code == 200
        assert (await _json(listed))["data"] == {
            "agentId": s.ids["chime"], "provider": "chime", "listsVoices": True,
            "voices": [{"id": "chime/high", "name": "High chime", "language": "en",
                        "gender": "female"},
                       {"id": "chime/low", "name": "Low chime", "language": "en",
                        "gender": "male"}]}
        # A provider declared without a voice list (the mapping form of register_models).
        unlisted = await s.client.get(f"{AUDIO}/{s.ids['hum']}/voices")
        assert unlisted.status_code == 200
        assert (await _json(unlisted))["data"] == {
            "agentId": s.ids["hum"], "provider": "hum", "listsVoices": False, "voices": []}
        broken = await s.client.get(f"{AUDIO}/{s.ids['cracked']}/voices")
        assert broken.status_code == 500
        assert (await _json(broken))["error"] == {
            "code": "PROCESSING_ERROR",
            "message": "Failed to list voices: the voice catalogue is unreadable"}
        with trio.fail_after(10):
            hung = await s.client.get(f"{AUDIO}/{s.ids['hang']}/voices")
        assert hung.status_code == 500
        assert (await _json(hung))["error"]["message"] == (
            "Failed to list voices: cracked took over 1.0 s")


async def test_agent_without_a_speech_model(tmp_path: Path) -> None:
    async with speakers(tmp_path) as s:
        mute = s.ids["plain"]
        for method, route, body in (("POST", "synthesize", {"text": "hi"}),
                                    ("POST", "conversation", {"text": "hi"}),
                                    ("GET", "voices", None)):
            response = await s.client.open(f"{AUDIO}/{mute}/{route}", method=method, json=body)
            assert response.status_code == 503, route
            error = (await _json(response))["error"]
            assert error["code"] == "MODEL_NOT_AVAILABLE"
            assert error["details"] == {"agentId": mute, "modelType": "TEXT_TO_SPEECH"}
        status = await _status(s.client, mute)
        assert (status["canHear"], status["canSpeak"]) == (False, False)
        assert status["models"] == {"TRANSCRIPTION": None, "TEXT_TO_SPEECH": None}


SEED_ROUTES = [("POST", "synthesize"), ("POST", "conversation"), ("GET", "voices"),
               ("GET", "conversation/status")]


async def test_bad_agents_and_bad_text(tmp_path: Path) -> None:
    async with speakers(tmp_path) as s:
        for method, route in SEED_ROUTES:
            body = {"text": "hi"} if method == "POST" else None
            for agent, status, code in (("not-a-uuid", 400, "INVALID_ID"),
                                        (UNKNOWN, 404, "AGENT_NOT_FOUND"),
                                        (s.ids["stopped"], 404, "AGENT_NOT_RUNNING")):
                response = await s.client.open(f"{AUDIO}/{agent}/{route}", method=method,
                                               json=body)
                assert response.status_code == status, (route, agent)
                assert (await _json(response))["error"]["code"] == code, (route, agent)
        chimer = s.ids["chime"]
        for route, purpose in (("synthesize", "speech synthesis"),
                               ("conversation", "conversation")):
            for bad in ({}, {"text": "   "}, {"text": 3}):
                response = await s.client.post(f"{AUDIO}/{chimer}/{route}", json=bad)
                assert response.status_code == 400, (route, bad)
                error = (await _json(response))["error"]
                assert (error["code"], error["message"]) == (
                    "INVALID_REQUEST", f"Text is required for {purpose}"), (route, bad)
        assert (await _status(s.client, chimer))["completed"] == 0


# -- a live server with the speech plugin (espeak-ng, sox, pocketsphinx) ----------------------


def espeak_voice_lines() -> list[list[str]]:
    listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
    return [line.split() for line in listing.splitlines()[1:] if line.strip()]


def wav_of(response: httpx.Response) -> bytes:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.content[:4] == b"RIFF"
    return response.content


@pytest.mark.espeak
def test_live_voices_are_espeak_ngs(http: httpx.Client, speech_agent: str) -> None:
    response = http.get(f"{AUDIO}/{speech_agent}/voices")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["provider"], data["listsVoices"]) == ("speech", True)
    lines = espeak_voice_lines()
    assert [v["id"] for v in data["voices"]] == [fields[4] for fields in lines]
    american = next(v for v in data["voices"] if v["id"] == "gmw/en-US")
    assert american == {"id": "gmw/en-US", "name": "English (America)", "language": "en-us",
                        "gender": "male"}
    # Two voices speak Cantonese: their ids still tell them apart.
    cantonese = [v["id"] for v in data["voices"] if v["language"] == "yue"]
    assert len(cantonese) == 2
    assert len(set(cantonese)) == 2


@pytest.mark.espeak
def test_live_a_listed_voice_is_the_one_the_agent_speaks_with(http: httpx.Client,
                                                              speech_agent: str) -> None:
    text = "testing one two three"
    default = wav_of(http.post(f"{AUDIO}/{speech_agent}/synthesize", json={"text": text}))
    heard = upload(http, speech_agent, "transcriptions", default)
    assert heard.json()["data"]["text"] == text
    voices = http.get(f"{AUDIO}/{speech_agent}/voices").json()["data"]["voices"]
    scottish = next(v["id"] for v in voices if v["language"] == "en-gb-scotland")
    created = http.post("/api/agents", json={"characterJson": {
        "name": "Scot", "bio": ["x"], "plugins": ["speech"],
        "settings": {"SPEECH_VOICE": scottish}}})
    scot = created.json()["data"]["id"]
    assert http.post(f"/api/agents/{scot}/start", json={}).status_code == 200
    accented = wav_of(http.post(f"{AUDIO}/{scot}/synthesize", json={"text": text}))
    assert accented != default
    same_voice = subprocess.run(["espeak-ng", "-v", scottish, "-s", "120", "--stdout", text],
                                capture_output=True, check=True, timeout=30).stdout
    # The same samples as espeak-ng itself speaks them with that voice (the sizes in the
    # header differ: the plugin fixes the placeholders espeak-ng writes to a pipe).
    assert accented[44:] == same_voice[44:]


@pytest.mark.espeak
def test_live_spoken_conversation_and_its_status(http: httpx.Client, speech_agent: str) -> None:
    question = wav_of(synthesize(http, speech_agent, "testing one two three", "synthesize"))
    answer = http.post(f"{AUDIO}/{speech_agent}/conversation",
                       files={"file": ("q.wav", question, "audio/wav")})
    wav_of(answer)
    spoken = http.post(f"{AUDIO}/{speech_agent}/conversation",
                       json={"text": "I feel sad today", "userName": "Ada"})
    wav_of(spoken)
    status = http.get(f"{AUDIO}/{speech_agent}/conversation/status")
    assert status.status_code == 200, status.text
    data = status.json()["data"]
    assert (data["canHear"], data["canSpeak"]) == (True, True)
    assert data["models"] == {"TRANSCRIPTION": "speech", "TEXT_TO_SPEECH": "speech"}
    assert (data["inFlight"], data["completed"], data["failed"]) == (0, 2, 0)
    assert data["lastConversationAt"] is not None
    # A WAV header and no speech: nothing heard is a failed conversation.
    failed = upload(http, speech_agent, "conversation", SAMPLES["audio/wav"][0])
    assert failed.status_code == 500, failed.text
    data = http.get(f"{AUDIO}/{speech_agent}/conversation/status").json()["data"]
    assert data["failed"] == 1
    assert data["lastError"]["code"] == "PROCESSING_ERROR"


def test_live_agent_without_speech(http: httpx.Client, plain_agent: str) -> None:
    voices = http.get(f"{AUDIO}/{plain_agent}/voices")
    assert voices.status_code == 503
    assert error_of(voices)["code"] == "MODEL_NOT_AVAILABLE"
    status = http.get(f"{AUDIO}/{plain_agent}/conversation/status").json()["data"]
    assert (status["canHear"], status["canSpeak"]) == (False, False)
