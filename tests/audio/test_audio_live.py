"""The /api/audio routes against a real `hypercorn -k trio` process that loads the installed
speech plugin: a spoken round trip (espeak-ng -> WAV -> pocketsphinx), the agent's spoken
reply, 503 for an agent without speech models, and the bad inputs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.media.helpers import ELF, SAMPLES
from tests.media.test_live import raw_request

from .helpers import AUDIO, error_of, synthesize, upload

pytestmark = pytest.mark.espeak  # the real speech engines

MB = 1024 * 1024


def check_wav(response: httpx.Response) -> bytes:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert int(response.headers["content-length"]) == len(response.content)
    wav = response.content
    assert wav[:4] == b"RIFF"
    assert wav[8:12] == b"WAVE"
    assert len(wav) > 10_000  # about a second of 22.05 kHz 16-bit speech at least
    return wav


def transcribe(http: httpx.Client, agent_id: str, wav: bytes) -> str:
    response = upload(http, agent_id, "transcriptions", wav)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return str(body["data"]["text"])


@pytest.mark.parametrize("route", ["audio-messages/synthesize", "speech/generate"])
def test_speech_round_trip(http: httpx.Client, speech_agent: str, route: str) -> None:
    hello = transcribe(http, speech_agent, check_wav(synthesize(http, speech_agent,
                                                                 "hello world", route)))
    # espeak-ng (en-us, 120 wpm) + pocketsphinx (en-us) hear "hello where law".
    assert "hello" in hello.split(), hello
    counted = transcribe(http, speech_agent, check_wav(
        synthesize(http, speech_agent, "testing one two three", route)))
    assert counted == "testing one two three"


def test_audio_messages_answers_the_transcription(http: httpx.Client, speech_agent: str
                                                   ) -> None:
    wav = check_wav(synthesize(http, speech_agent, "testing one two three"))
    response = upload(http, speech_agent, "audio-messages", wav, mime="audio/x-wav")
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": {
        "transcription": "testing one two three",
        "message": "Audio transcribed, further processing TBD."}}


def test_conversation_speaks_the_agents_reply(http: httpx.Client, speech_agent: str) -> None:
    # JSON text in: the agent's reply (the built-in ELIZA model) comes back as WAV.
    response = http.post(f"{AUDIO}/{speech_agent}/speech/conversation",
                         json={"text": "I feel sad today", "userName": "Ada"})
    check_wav(response)
    # Audio in: transcribed first, then answered and spoken.
    question = check_wav(synthesize(http, speech_agent, "testing one two three"))
    spoken = http.post(f"{AUDIO}/{speech_agent}/speech/conversation",
                       files={"file": ("q.wav", question, "audio/wav")})
    check_wav(spoken)


def test_process_speech_answers_transcription_and_reply(http: httpx.Client,
                                                       speech_agent: str) -> None:
    question = check_wav(synthesize(http, speech_agent, "testing one two three"))
    response = upload(http, speech_agent, "speech", question)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["transcription"] == "testing one two three"
    assert isinstance(data["text"], str)
    assert data["text"].strip()
    assert data["messageId"] != data["replyId"]
    history = http.get(f"/api/messaging/channels/{data['channelId']}/messages")
    assert history.status_code == 200, history.text
    contents = [m["content"] for m in history.json()["data"]["messages"]]
    assert "testing one two three" in contents
    assert data["text"] in contents


ROUTES_WITH_UPLOAD = ["transcriptions", "audio-messages", "speech"]
ROUTES_WITH_TEXT = ["audio-messages/synthesize", "speech/generate", "speech/conversation"]


def test_agent_without_speech_models_gets_503(http: httpx.Client, plain_agent: str) -> None:
    wav = SAMPLES["audio/wav"][0]
    for route in ROUTES_WITH_UPLOAD:
        response = upload(http, plain_agent, route, wav)
        assert response.status_code == 503, (route, response.text)
        assert error_of(response)["code"] == "MODEL_NOT_AVAILABLE"
    for route in ROUTES_WITH_TEXT:
        response = synthesize(http, plain_agent, "hello", route)
        assert response.status_code == 503, (route, response.text)
        error = error_of(response)
        assert error["code"] == "MODEL_NOT_AVAILABLE"
        assert error["details"]["modelType"] == "TEXT_TO_SPEECH"


def test_default_agent_has_no_speech_model(http: httpx.Client) -> None:
    agents = http.get("/api/agents").json()["data"]["agents"]
    assert agents, "the live server starts its default agent"
    default = agents[0]["id"]
    response = synthesize(http, default, "hello")
    assert response.status_code == 503, response.text
    assert error_of(response)["code"] == "MODEL_NOT_AVAILABLE"


def test_bad_ids_and_agents(http: httpx.Client, speech_tools: None) -> None:
    response = synthesize(http, "not-a-uuid", "hello")
    assert response.status_code == 400
    assert error_of(response)["code"] == "INVALID_ID"
    unknown = "6d1c1b7e-2f1a-4a7e-9d7b-0c6a4f9e1a11"
    assert synthesize(http, unknown, "hello").status_code == 404
    created = http.post("/api/agents", json={"characterJson": {
        "name": "Stopped", "bio": ["x"], "plugins": ["speech"]}})
    stopped = created.json()["data"]["id"]
    response = synthesize(http, stopped, "hello")
    assert response.status_code == 404
    assert error_of(response)["code"] == "AGENT_NOT_RUNNING"


def test_bad_text(http: httpx.Client, speech_agent: str) -> None:
    for body, purpose in (({}, "speech synthesis"), ({"text": "  "}, "speech synthesis"),
                          ({"text": 3}, "speech synthesis")):
        response = http.post(f"{AUDIO}/{speech_agent}/speech/generate", json=body)
        assert response.status_code == 400, response.text
        assert error_of(response)["message"] == f"Text is required for {purpose}"
    response = http.post(f"{AUDIO}/{speech_agent}/speech/conversation", json={"text": ""})
    assert response.status_code == 400
    assert error_of(response)["message"] == "Text is required for conversation"
    malformed = http.post(f"{AUDIO}/{speech_agent}/speech/generate", content=b"{oops",
                          headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert error_of(malformed)["code"] == "BAD_REQUEST"


def test_bad_uploads(http: httpx.Client, speech_agent: str, live_server: Any) -> None:
    png = SAMPLES["image/png"][0]
    not_audio = upload(http, speech_agent, "transcriptions", png, "image/png", "x.png")
    assert not_audio.status_code == 415
    assert error_of(not_audio)["code"] == "INVALID_FILE_TYPE"
    disguised = upload(http, speech_agent, "transcriptions", ELF, "audio/wav", "x.wav")
    assert disguised.status_code == 415
    assert error_of(disguised)["code"] == "INVALID_FILE_TYPE"
    no_file = http.post(f"{AUDIO}/{speech_agent}/transcriptions",
                        files={"other": ("x.wav", SAMPLES["audio/wav"][0], "audio/wav")})
    assert no_file.status_code == 400
    not_multipart = http.post(f"{AUDIO}/{speech_agent}/transcriptions", content=b"RIFF",
                              headers={"Content-Type": "audio/wav"})
    assert not_multipart.status_code == 400
    # A WAV header and no speech: the engines find nothing to say.
    silence = upload(http, speech_agent, "transcriptions", SAMPLES["audio/wav"][0])
    assert silence.status_code == 500
    assert error_of(silence)["code"] == "PROCESSING_ERROR"
    # Over 50 MB declared: refused before the body is read.
    head = (f"POST {AUDIO}/{speech_agent}/transcriptions HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {60 * MB}\r\n\r\n")
    status, raw, sent = raw_request(live_server.port, head, body_size=60 * MB)
    assert status == 413, raw[:300]
    assert b"FILE_TOO_LARGE" in raw
    assert sent < 60 * MB
    # Nothing stays behind in the scratch directory.
    scratch = live_server.data_dir / "data" / "audio-scratch" / speech_agent
    assert not scratch.exists() or not any(scratch.iterdir())


def test_audio_routes_count_against_the_upload_limit(live_server_factory: Any) -> None:
    server = live_server_factory(ELIZA_RATE_LIMIT="on")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answers = [synthesize(http, "not-a-uuid", "x").status_code for _ in range(51)]
        assert answers[:50] == [400] * 50
        assert answers[50] == 429
        limited = synthesize(http, "not-a-uuid", "x")
        assert error_of(limited)["code"] == "RATE_LIMIT_EXCEEDED"
        assert "retry-after" in limited.headers
