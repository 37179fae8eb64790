"""`audio-messages/synthesize` with the api-client's `{messageId}` (its
synthesizeAudioMessage sends no text): the stored message's content is spoken."""

from __future__ import annotations

import httpx
import pytest

from eliza import ids

from .helpers import AUDIO, error_of

pytestmark = pytest.mark.espeak  # the real speech engines


def stored_message(http: httpx.Client, text: str) -> str:
    channel = http.post("/api/messaging/channels", json={
        "name": "spoken", "message_server_id": ids.DEFAULT_SERVER_ID,
        "participantCentralUserIds": [ids.new_uuid()]})
    assert channel.status_code == 201, channel.text
    posted = http.post(f"/api/messaging/channels/{channel.json()['data']['id']}/messages",
                       json={"content": text, "author_id": ids.new_uuid()})
    assert posted.status_code == 201, posted.text
    return str(posted.json()["data"]["id"])


def test_a_stored_message_is_spoken(http: httpx.Client, speech_agent: str) -> None:
    url = f"{AUDIO}/{speech_agent}/audio-messages/synthesize"
    spoken = http.post(url, json={"messageId": stored_message(http, "testing one two three")})
    assert spoken.status_code == 200, spoken.text
    assert spoken.content[:4] == b"RIFF"
    heard = http.post(f"{AUDIO}/{speech_agent}/transcriptions",
                      files={"file": ("m.wav", spoken.content, "audio/wav")})
    assert heard.json()["data"]["text"] == "testing one two three"

    missing = http.post(url, json={"messageId": ids.new_uuid()})
    assert missing.status_code == 404
    bad = http.post(url, json={"messageId": "not-an-id"})
    assert bad.status_code == 400
    assert error_of(bad)["code"] == "INVALID_REQUEST"
    neither = http.post(url, json={"voice": "en"})
    assert neither.status_code == 400
    assert error_of(neither) == {**error_of(neither), "code": "INVALID_REQUEST",
                                 "message": "Text is required for speech synthesis"}
