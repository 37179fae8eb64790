"""The two engines, each an external call under a deadline:

- speech synthesis: ``espeak-ng --stdin --stdout`` (the text goes in on stdin, so a text that
  starts with ``-`` is never read as an option), run with ``trio.run_process``; its voices
  come from ``espeak-ng --voices``, run the same way;
- transcription: ``sox`` converts the input to what pocketsphinx wants (16 kHz, mono, 16-bit
  signed raw PCM), then pocketsphinx decodes it in a worker thread.
"""

from __future__ import annotations

import importlib
import struct
from dataclasses import dataclass
from typing import Any

import trio

from eliza import Voice

MAX_TEXT_CHARS = 5000
DEFAULT_VOICE = "en-us"
DEFAULT_RATE = 120  # words per minute: slow speech is what pocketsphinx recognises best
DEFAULT_TIMEOUT = 30.0
SAMPLE_RATE = 16000
GENDERS = {"M": "male", "F": "female"}


class SpeechError(Exception):
    """An engine failed, produced nothing, or ran past its deadline."""


@dataclass(frozen=True)
class VoiceSettings:
    voice: str = DEFAULT_VOICE
    rate: int = DEFAULT_RATE
    timeout: float = DEFAULT_TIMEOUT


async def _run(argv: list[str], stdin: bytes, seconds: float, what: str) -> bytes:
    try:
        with trio.fail_after(seconds):
            result = await trio.run_process(argv, stdin=stdin, capture_stdout=True,
                                            capture_stderr=True, check=False)
    except trio.TooSlowError:
        raise SpeechError(f"{what} took over {seconds} s") from None
    except FileNotFoundError:
        raise SpeechError(f"{argv[0]} is not installed (apt-get install {argv[0]})") from None
    if result.returncode != 0:
        err = result.stderr.decode("utf-8", "replace").strip()[:300]
        raise SpeechError(f"{what} failed ({result.returncode}): {err}")
    return bytes(result.stdout)


def fix_wav_sizes(wav: bytes) -> bytes:
    """espeak-ng writes to a pipe, so its RIFF and data sizes are placeholders; set the real
    ones so every player and parser reads the whole file."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return wav
    out = bytearray(wav)
    struct.pack_into("<I", out, 4, len(out) - 8)
    pos = 12
    while pos + 8 <= len(out):
        chunk, size = out[pos:pos + 4], struct.unpack_from("<I", out, pos + 4)[0]
        if chunk == b"data":
            struct.pack_into("<I", out, pos + 4, len(out) - pos - 8)
            break
        pos += 8 + size + (size & 1)
    return bytes(out)


async def synthesize(text: str, settings: VoiceSettings) -> bytes:
    """WAV bytes (RIFF/WAVE, 22.05 kHz mono 16-bit) of `text` spoken by espeak-ng."""
    text = " ".join(text.split())
    if not text:
        raise SpeechError("No text to synthesize")
    if len(text) > MAX_TEXT_CHARS:
        raise SpeechError(f"Text is longer than {MAX_TEXT_CHARS} characters")
    argv = ["espeak-ng", "-v", settings.voice, "-s", str(settings.rate), "--stdin", "--stdout"]
    wav = await _run(argv, text.encode("utf-8"), settings.timeout, "espeak-ng")
    if len(wav) <= 44:
        raise SpeechError("espeak-ng produced no audio")
    return fix_wav_sizes(wav)


def parse_voices(listing: str) -> list[Voice]:
    """The voices of an ``espeak-ng --voices`` listing: a header line, then one voice a line,
    ``Pty Language Age/Gender VoiceName File (other languages)...``, where the name has `_`
    for its spaces. A voice's id is its file, which ``-v`` selects exactly (languages may
    be shared: two voices speak ``yue``)."""
    voices = []
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[0].isdigit():
            continue  # the header, or a line this parser does not know
        language, age_gender, name, file = fields[1:5]
        gender = GENDERS.get(age_gender.rpartition("/")[2])
        voices.append(Voice(id=file, name=name.replace("_", " ").strip() or file,
                            language=language, gender=gender))
    return voices


async def list_voices(seconds: float) -> list[Voice]:
    """The voices espeak-ng speaks with, listed under `seconds`."""
    listing = await _run(["espeak-ng", "--voices"], b"", seconds, "espeak-ng --voices")
    voices = parse_voices(listing.decode("utf-8", "replace"))
    if not voices:
        raise SpeechError("espeak-ng listed no voices")
    return voices


def sox_type(audio: bytes, mime: str | None = None) -> str:
    """sox's name for the input's container, from its leading bytes (then the MIME type)."""
    head = audio[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    by_mime = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav",
               "audio/flac": "flac", "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp3": "mp3"}
    kind = by_mime.get((mime or "").lower())
    if kind is None:
        raise SpeechError("Unsupported audio format for transcription (use WAV, FLAC, OGG or "
                          "MP3)")
    return kind


async def to_pcm16k(audio: bytes, mime: str | None, seconds: float) -> bytes:
    """The audio as 16 kHz mono signed 16-bit little-endian raw PCM, via sox."""
    argv = ["sox", "-q", "-t", sox_type(audio, mime), "-", "-t", "raw", "-r", str(SAMPLE_RATE),
            "-c", "1", "-b", "16", "-e", "signed-integer", "-L", "-"]
    return await _run(argv, audio, seconds, "sox")


def decode_pcm(pcm: bytes) -> str:
    """pocketsphinx's best hypothesis for 16 kHz mono 16-bit PCM (blocking: run in a
    thread). Each call builds its own decoder: a decoder is not safe to share."""
    ps: Any = importlib.import_module("pocketsphinx")
    decoder = ps.Decoder(logfn="/dev/null", samprate=SAMPLE_RATE)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return str(hyp.hypstr).strip() if hyp is not None else ""


async def transcribe(audio: bytes, mime: str | None, seconds: float) -> str:
    """The words pocketsphinx hears in `audio`; the whole job runs under `seconds`."""
    if not audio:
        raise SpeechError("No audio to transcribe")
    deadline = trio.current_time() + seconds
    pcm = await to_pcm16k(audio, mime, seconds)
    remaining = deadline - trio.current_time()
    with trio.move_on_after(max(remaining, 0.0)):
        return await trio.to_thread.run_sync(decode_pcm, pcm, abandon_on_cancel=True)
    raise SpeechError(f"pocketsphinx took over {seconds} s")


__all__ = ["SpeechError", "VoiceSettings", "decode_pcm", "fix_wav_sizes", "list_voices",
           "parse_voices", "sox_type", "synthesize", "to_pcm16k", "transcribe"]
