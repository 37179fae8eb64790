"""The speech plugin's own tests: the engines (espeak-ng, sox, pocketsphinx) under their
deadlines, the per-agent model registration, and the routes on an app loading the plugin."""

from __future__ import annotations

import struct
from pathlib import Path

import eliza_plugin_speech as speech
import pytest
import trio
from eliza_plugin_speech.engines import (
    SpeechError,
    VoiceSettings,
    fix_wav_sizes,
    parse_voices,
    sox_type,
    synthesize,
    transcribe,
)

from conftest import make_settings, open_app
from eliza import Voice
from eliza.plugins import make_plugin_manager
from eliza.runtime.models import ModelType
from eliza.server import AgentServer
from tests.audio.conftest import ensure_speech_tools

pytestmark = pytest.mark.espeak  # the real speech engines


@pytest.fixture(scope="module", autouse=True)
def speech_tools() -> None:
    ensure_speech_tools()


async def test_synthesize_writes_a_complete_wav() -> None:
    wav = await synthesize("testing one two three", VoiceSettings())
    assert wav[:4] == b"RIFF"
    assert wav[8:12] == b"WAVE"
    assert struct.unpack_from("<I", wav, 4)[0] == len(wav) - 8
    data = wav.index(b"data")
    assert struct.unpack_from("<I", wav, data + 4)[0] == len(wav) - data - 8
    rate = struct.unpack_from("<I", wav, wav.index(b"fmt ") + 12)[0]
    assert rate == 22050


async def test_round_trip_through_the_engines() -> None:
    wav = await synthesize("testing one two three", VoiceSettings())
    assert await transcribe(wav, "audio/wav", 30) == "testing one two three"
    hello = await transcribe(await synthesize("hello world", VoiceSettings()), None, 30)
    assert hello.split()[0] == "hello"


async def test_text_is_never_an_option(tmp_path: Path) -> None:
    target = trio.Path(tmp_path / "x.wav")
    wav = await synthesize(f"--version -w {target}", VoiceSettings())
    assert wav[:4] == b"RIFF"
    assert not await target.exists()


async def test_engine_errors() -> None:
    with pytest.raises(SpeechError, match="No text"):
        await synthesize("   ", VoiceSettings())
    with pytest.raises(SpeechError, match="longer than"):
        await synthesize("a" * 6000, VoiceSettings())
    with pytest.raises(SpeechError, match="sox failed"):
        await transcribe(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", "audio/wav", 30)
    with pytest.raises(SpeechError, match="Unsupported"):
        await transcribe(b"\x00" * 64, "audio/aac", 30)
    with pytest.raises(SpeechError, match="took over"):
        await synthesize("a long sentence " * 200, VoiceSettings(timeout=0.001))


def test_helpers() -> None:
    assert sox_type(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert sox_type(b"fLaC\x00\x00") == "flac"
    assert sox_type(b"OggS\x00") == "ogg"
    assert sox_type(b"ID3\x03") == "mp3"
    assert sox_type(b"\x00\x00", "audio/mpeg") == "mp3"
    assert fix_wav_sizes(b"not a wav") == b"not a wav"


def test_voice_listing_and_voice_ids() -> None:
    listing = (
        "Pty Language       Age/Gender VoiceName          File                 Other Langs\n"
        " 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)\n"
        " 5  yue             --/M      Chinese_(Cantonese,_latin_as_Jyutping) "
        "sit/yue-Latn-jyutping (zh-yue 5)(zh 8)\n"
        " 9  en              70/F      en-german-1        mb/mb-de1-en\n"
        "garbage\n")
    assert parse_voices(listing) == [
        Voice("gmw/en-US", "English (America)", "en-us", "male"),
        Voice("sit/yue-Latn-jyutping", "Chinese (Cantonese, latin as Jyutping)", "yue",
              "male"),
        Voice("mb/mb-de1-en", "en-german-1", "en", "female")]
    for usable in ("en-us", "gmw/en-US", "en-us+f3", "sit/yue-Latn-jyutping"):
        assert speech.VOICE_ID.fullmatch(usable), usable
    for unsafe in ("-w", "/etc/passwd", "gmw/../../x", "en us", ""):
        assert not speech.VOICE_ID.fullmatch(unsafe), unsafe


async def test_models_only_for_agents_that_enable_speech(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=["speech"]))
    async with open_app(settings, server) as app:
        on, _ = await server.agents.create({"name": "On", "plugins": ["speech"],
                                            "settings": {"SPEECH_RATE": "130"}})
        off, _ = await server.agents.create({"name": "Off", "plugins": []})
        await server.agents.start(on.id)
        await server.agents.start(off.id)
        talker, mute = server.agents.runtime(on.id), server.agents.runtime(off.id)
        assert talker is not None
        assert mute is not None
        assert talker.models.has(ModelType.TEXT_TO_SPEECH)
        assert talker.models.has(ModelType.TRANSCRIPTION)
        assert not mute.models.has(ModelType.TEXT_TO_SPEECH)
        assert speech.voice_settings(talker) == VoiceSettings(rate=130)
        wav = await talker.use_model(ModelType.TEXT_TO_SPEECH, {"text": "testing one two three"})
        text = await talker.use_model(ModelType.TRANSCRIPTION, {"audio": wav})
        assert text == "testing one two three"
        client = app.test_client()
        spoken = await client.post(f"/api/audio/{on.id}/speech/generate",
                                   json={"text": "testing one two three"})
        assert spoken.status_code == 200
        assert spoken.headers["Content-Type"] == "audio/wav"
        refused = await client.post(f"/api/audio/{off.id}/speech/generate", json={"text": "x"})
        assert refused.status_code == 503
        with trio.fail_after(10):
            await server.agents.stop(on.id)
