"""eliza-plugin-speech: offline speech models for the agents that enable ``"speech"``.

- ``TEXT_TO_SPEECH``: espeak-ng (``-v en-us -s 120`` unless the character's settings say
  ``SPEECH_VOICE`` / ``SPEECH_RATE``) -> WAV bytes. Its voices are those of
  ``espeak-ng --voices``; a voice's id (its file, e.g. ``gmw/en-US``) or a language code
  (``en-us``) is what ``SPEECH_VOICE`` takes.
- ``TRANSCRIPTION``: sox converts the input to 16 kHz mono 16-bit, pocketsphinx (its bundled
  ``en-us`` model) decodes it in a worker thread -> the text.

Both run under ``SPEECH_TIMEOUT`` seconds (default 30). Params: TEXT_TO_SPEECH takes
``{"text": str}`` (or a bare string); TRANSCRIPTION takes ``{"audio": bytes, "mimeType": str}``
(or bare bytes). System tools: ``apt-get install -y espeak-ng sox``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from eliza import ModelProvider, ModelType, Voice, hookimpl

from .engines import (
    DEFAULT_RATE,
    DEFAULT_TIMEOUT,
    DEFAULT_VOICE,
    SpeechError,
    VoiceSettings,
    list_voices,
    synthesize,
    transcribe,
)

if TYPE_CHECKING:
    from eliza.runtime.agent import AgentRuntime
    from eliza.server import AgentServer

PLUGIN = "speech"
# A language (`en-us`), a voice file (`gmw/en-US`), a variant (`en-us+f3`): never an option,
# an absolute path or a way up (no dot).
VOICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+/-]*")


def _number(value: Any, default: float, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, lo), hi)


def voice_settings(runtime: AgentRuntime) -> VoiceSettings:
    voice = runtime.get_setting("SPEECH_VOICE")
    voice = voice if isinstance(voice, str) and VOICE_ID.fullmatch(voice) else DEFAULT_VOICE
    rate = int(_number(runtime.get_setting("SPEECH_RATE"), DEFAULT_RATE, 80, 450))
    timeout = _number(runtime.get_setting("SPEECH_TIMEOUT"), DEFAULT_TIMEOUT, 1, 300)
    return VoiceSettings(voice=voice, rate=rate, timeout=timeout)


async def text_to_speech(runtime: AgentRuntime, params: Any) -> bytes:
    text = params.get("text") if isinstance(params, dict) else params
    if not isinstance(text, str):
        raise SpeechError("TEXT_TO_SPEECH needs {'text': str}")
    return await synthesize(text, voice_settings(runtime))


async def voices(runtime: AgentRuntime) -> list[Voice]:
    return await list_voices(voice_settings(runtime).timeout)


async def transcription(runtime: AgentRuntime, params: Any) -> str:
    if isinstance(params, dict):
        audio, mime = params.get("audio"), params.get("mimeType")
    else:
        audio, mime = params, None
    if not isinstance(audio, bytes | bytearray):
        raise SpeechError("TRANSCRIPTION needs {'audio': bytes}")
    return await transcribe(bytes(audio), str(mime) if mime else None,
                            voice_settings(runtime).timeout)


@hookimpl
def register_models(server: AgentServer) -> list[ModelProvider]:
    return [
        ModelProvider(ModelType.TEXT_TO_SPEECH, text_to_speech, plugin=PLUGIN, voices=voices),
        ModelProvider(ModelType.TRANSCRIPTION, transcription, plugin=PLUGIN),
    ]


__all__ = ["SpeechError", "register_models", "text_to_speech", "transcription",
           "voice_settings", "voices"]
