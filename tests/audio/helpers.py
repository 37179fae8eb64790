"""Multipart bodies for the audio routes."""

from __future__ import annotations

from typing import Any

import httpx

AUDIO = "/api/audio"


def upload(http: httpx.Client, agent_id: str, route: str, content: bytes,
           mime: str = "audio/wav", name: str = "speech.wav") -> httpx.Response:
    return http.post(f"{AUDIO}/{agent_id}/{route}", files={"file": (name, content, mime)})


def synthesize(http: httpx.Client, agent_id: str, text: str,
               route: str = "audio-messages/synthesize") -> httpx.Response:
    return http.post(f"{AUDIO}/{agent_id}/{route}", json={"text": text})


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False, body
    error: dict[str, Any] = body["error"]
    return error
