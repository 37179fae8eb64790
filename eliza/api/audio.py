"""The audio routes: transcription and speech through the agent's speech models, answered
as binary audio, or 503 MODEL_NOT_AVAILABLE when the agent has no speech model.

Uploads go through the media receiver (streaming, 50 MB cap, audio MIME list, magic bytes)
into a per-agent scratch directory and are deleted as soon as they are read. Conversations do
not bypass the bus as ElizaOS does: the text is posted into a DM channel of the agent and the
route waits (bounded) for the agent's stored reply, which is then synthesized. The routes the
ElizaOS API reference names (`synthesize`, `conversation`) are further paths of the same
handlers; `voices` and `conversation/status` answer from `audio_voice`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import trio
from quart import Blueprint, Response, current_app, request

from ..errors import ApiError, BadRequest, ModelNotAvailable
from ..ids import create_unique_uuid
from ..media.types import AUDIO_MIME_TYPES
from ..media.uploads import UploadPolicy, receive_upload, safe_dir
from ..runtime.agent import ModelTimeout
from ..runtime.models import ModelProvider, ModelType
from . import audio_voice
from .common import json_body, ok, server, uuid_param
from .contract import Multipart, check_body, declare
from .inputs import Obj, Text, Uuid

if TYPE_CHECKING:
    from ..runtime.agent import AgentRuntime
    from ..security.middleware import Security

log = logging.getLogger(__name__)

bp = Blueprint("audio", __name__, url_prefix="/api/audio")

# How long a conversation route waits for the agent's reply (also capped by the turn timeout).
REPLY_WAIT = 60.0
UPLOAD_MESSAGE = "Audio transcribed, further processing TBD."

# -- the declarations ------------------------------------------------------------------------
# The agent is checked (404, 503 MODEL_NOT_AVAILABLE) before the body's fields, and its id
# by the handler, whose refusal closes the connection (the upload is left unread).
TAGS = "audio"
AGENT = {"agent_id": Uuid(description="a running agent with the speech models it needs")}
AUDIO = Multipart(AUDIO_MIME_TYPES, file="the audio; removed once read")
SOUND = {"audio/wav": {"type": "string", "format": "binary"},
         "audio/mpeg": {"type": "string", "format": "binary"}}


def _text_body(purpose: str, **fields: Text) -> Obj:
    """A body with the `text` to speak; bad input is 400 INVALID_REQUEST, as ElizaOS says."""
    wording = f"Text is required for {purpose}"
    return Obj(fields={"text": Text(blank=False, message=wording), **fields},
               required=("text",), missing=wording, code="INVALID_REQUEST")


SPEAK_WORDING = "Text is required for speech synthesis"


@dataclass(frozen=True)
class _TextOrMessage(Obj):
    """`text`, or the api-client's `messageId`: a stored message whose content is spoken
    (the handler refuses a body with neither)."""

    def _schema(self) -> dict[str, Any]:
        return {**super()._schema(), "anyOf": [{"required": ["text"]}, {"required": ["messageId"]}]}


SPEAK = _TextOrMessage(fields={
    "text": Text(blank=False, message=SPEAK_WORDING),
    "messageId": Uuid(description="a stored message to speak, when `text` is absent")},
    code="INVALID_REQUEST")
CONVERSE = _text_body(
    "conversation", roomId=Text(nullable=True, description="the conversation (a DM channel)"),
    entityId=Text(nullable=True, description="who speaks (default Anon)"),
    userName=Text(nullable=True), name=Text(nullable=True, description="alias of userName"))


@bp.before_request
async def _rate_limit() -> None:
    """Every /api/audio/* request counts against the upload and file-operation limiters
    (uploads 50 per 15 min, file operations 100 per 5 min), per client IP."""
    security = cast("Security | None", current_app.config.get("ELIZA_SECURITY"))
    if security is None:
        return
    try:
        await security.hit_file_limits(request.remote_addr, request.headers)
    except ApiError as exc:
        raise _closing(exc) from None


def _closing(exc: ApiError) -> ApiError:
    """An answer sent before the request body is read asks the client to close the
    connection: the unread body must not be taken for the next request."""
    exc.headers.setdefault("Connection", "close")
    return exc


def _runtime(agent_id: str, *needs: ModelType) -> AgentRuntime:
    """The running agent, which must have a provider for each of `needs`."""
    runtime = server().agents.require_runtime(uuid_param(agent_id, "agent"))
    for model_type in needs:
        _provider(runtime, model_type)
    return runtime


def _provider(runtime: AgentRuntime, model_type: ModelType) -> ModelProvider:
    provider = runtime.models.get(model_type)
    if provider is None:
        raise ModelNotAvailable(
            f"Agent {runtime.name} has no {model_type.value} model (enable a speech "
            "plugin such as \"speech\" in its character)",
            details={"agentId": runtime.agent_id, "modelType": model_type.value},
        )
    return provider


async def _upload(runtime: AgentRuntime) -> tuple[bytes, str]:
    """The uploaded audio file's bytes and declared type; the stored copy is removed."""
    srv = server()
    target = safe_dir(srv.settings.data_dir / "data" / "audio-scratch", runtime.agent_id,
                      "agent")
    policy = UploadPolicy(AUDIO_MIME_TYPES, srv.settings.max_upload_bytes)
    try:
        saved = await receive_upload(request.body, request.headers.get("Content-Type"),
                                     request.content_length, target, policy)
    except BadRequest as exc:
        if exc.message == "No media file provided":
            raise BadRequest("No audio file provided", code="INVALID_REQUEST") from None
        raise
    try:
        return await trio.Path(saved.path).read_bytes(), saved.mime
    finally:
        with trio.CancelScope(shield=True):
            await trio.Path(saved.path).unlink(missing_ok=True)


async def _model(runtime: AgentRuntime, model_type: ModelType, params: dict[str, Any],
                 what: str) -> Any:
    """Call a model (under the runtime's model deadline); its failures become a 500
    PROCESSING_ERROR that names them, never a bare crash."""
    try:
        return await runtime.use_model(model_type, params)
    except ApiError:
        raise
    except ModelTimeout as exc:
        raise ApiError(f"Failed to {what}: {exc}", code="PROCESSING_ERROR") from None
    except Exception as exc:
        log.warning("%s model of %s failed: %s", model_type.value, runtime.name, exc)
        raise ApiError(f"Failed to {what}: {exc}", code="PROCESSING_ERROR") from None


async def _receive(agent_id: str, *needs: ModelType) -> tuple[AgentRuntime, bytes, str]:
    """The agent (checked before a byte of the body is read) and its uploaded audio."""
    try:
        runtime = _runtime(agent_id, *needs)
        audio, mime = await _upload(runtime)
    except ApiError as exc:
        raise _closing(exc) from None
    return runtime, audio, mime


async def _transcribe(runtime: AgentRuntime, audio: bytes, mime: str) -> str:
    text = await _model(runtime, ModelType.TRANSCRIPTION, {"audio": audio, "mimeType": mime},
                        "transcribe audio")
    return str(text or "").strip()


async def _heard(runtime: AgentRuntime, audio: bytes, mime: str) -> str:
    """The transcription, which must hold words (500 PROCESSING_ERROR when none is heard)."""
    text = await _transcribe(runtime, audio, mime)
    if not text:
        raise ApiError("Failed to transcribe audio", code="PROCESSING_ERROR")
    return text


def _audio_response(audio: Any) -> Response:
    if isinstance(audio, bytearray | memoryview):
        audio = bytes(audio)
    if not isinstance(audio, bytes) or not audio:
        raise ApiError("The speech model returned no audio", code="PROCESSING_ERROR")
    is_wav = audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    response = Response(audio, status=200, content_type="audio/wav" if is_wav else "audio/mpeg")
    response.headers["Content-Length"] = str(len(audio))
    return response


async def _speak(runtime: AgentRuntime, text: str) -> Response:
    audio = await _model(runtime, ModelType.TEXT_TO_SPEECH, {"text": text}, "synthesize speech")
    return _audio_response(audio)


def _text(body: dict[str, Any]) -> str:
    """The declared body's `text` (checked after the agent: `check_body`)."""
    text: str = check_body(body)["text"]
    return text.strip()


async def _converse(runtime: AgentRuntime, text: str, body: dict[str, Any]) -> dict[str, Any]:
    """Post `text` into the agent's DM channel for this room and user; the agent's reply."""
    srv = server()
    agent_id = runtime.agent_id
    room = body.get("roomId") or f"default-room-{agent_id}"
    channel_id = create_unique_uuid(agent_id, str(room))
    author_id = create_unique_uuid(agent_id, str(body.get("entityId") or "Anon"))
    name = body.get("userName") or body.get("name")
    metadata: dict[str, Any] = {"isDm": True, "channelType": "DM", "targetUserId": agent_id,
                                "source": "audio"}
    if isinstance(name, str) and name:
        metadata["entityName"] = name
    posted = await srv.messaging.post_message(
        channel_id=channel_id, author_id=author_id, content=text, source_type="audio",
        raw_message={"text": text, "source": "audio"}, metadata=metadata,
    )
    turn = srv.settings.turn_timeout
    reply = await srv.messaging.wait_for_reply(
        channel_id, posted.message["id"], within=min(REPLY_WAIT, turn) if turn > 0 else REPLY_WAIT,
        author_id=agent_id)
    if reply is None or not str(reply.get("content") or "").strip():
        raise ApiError(f"Agent {runtime.name} did not reply in time", code="MODEL_ERROR")
    return {"text": str(reply["content"]), "messageId": posted.message["id"],
            "replyId": reply["id"], "channelId": channel_id}


def _is_multipart() -> bool:
    return (request.mimetype or "").lower() == "multipart/form-data"


@bp.post("/<agent_id>/transcriptions")
@declare("Transcribe audio", tags=TAGS, path=AGENT, multipart=AUDIO,
         description="Answers {text} (500 PROCESSING_ERROR when nothing was heard).")
async def transcriptions(agent_id: str) -> Any:
    runtime, audio, mime = await _receive(agent_id, ModelType.TRANSCRIPTION)
    return ok({"text": await _heard(runtime, audio, mime)})


@bp.post("/<agent_id>/audio-messages")
@declare("Upload an audio message", tags=TAGS, path=AGENT, multipart=AUDIO,
         description="Answers {transcription, message}.")
async def audio_messages(agent_id: str) -> Any:
    runtime, audio, mime = await _receive(agent_id, ModelType.TRANSCRIPTION)
    return ok({"transcription": await _transcribe(runtime, audio, mime),
               "message": UPLOAD_MESSAGE})


@bp.post("/<agent_id>/synthesize")
@bp.post("/<agent_id>/audio-messages/synthesize")
@bp.post("/<agent_id>/speech/generate")
@declare("Synthesize speech", tags=TAGS, path=AGENT, body=SPEAK, body_after_lookup=True,
         answers=SOUND, description="Answers the audio (WAV or MP3) of `text`, else of the "
                                    "stored message `messageId`.")
async def synthesize(agent_id: str) -> Response:
    body = await json_body()  # read first: an unread body stalls the kept-alive connection
    runtime = _runtime(agent_id, ModelType.TEXT_TO_SPEECH)
    fields = check_body(body)
    text = str(fields.get("text") or "").strip()
    if not text and fields.get("messageId"):
        message = await server().messaging.get_message(fields["messageId"])  # 404 if unknown
        text = str(message.get("content") or "").strip()
    if not text:
        raise BadRequest(SPEAK_WORDING, code="INVALID_REQUEST")
    return await _speak(runtime, text)


@bp.post("/<agent_id>/conversation")
@bp.post("/<agent_id>/speech/conversation")
@declare("Talk with the agent: text or audio in, its spoken reply out", tags=TAGS, path=AGENT,
         body=CONVERSE, body_after_lookup=True, multipart=AUDIO, answers=SOUND,
         description="JSON {text, ...} or an audio upload (transcribed first); the text is "
                     "posted to the agent's DM channel and its reply (awaited at most "
                     f"{REPLY_WAIT:g} s) answers as audio (WAV or MP3).")
async def conversation(agent_id: str) -> Response:
    if _is_multipart():
        runtime, audio, mime = await _receive(agent_id, ModelType.TRANSCRIPTION,
                                              ModelType.TEXT_TO_SPEECH)
        with audio_voice.conversation(runtime):
            reply = await _converse(runtime, await _heard(runtime, audio, mime), {})
            return await _speak(runtime, reply["text"])
    body = await json_body()
    runtime = _runtime(agent_id, ModelType.TEXT_TO_SPEECH)
    text = _text(body)
    with audio_voice.conversation(runtime):
        reply = await _converse(runtime, text, body)
        return await _speak(runtime, reply["text"])


@bp.post("/<agent_id>/speech")
@declare("Transcribe audio and answer it", tags=TAGS, path=AGENT, multipart=AUDIO,
         description="Answers {text, messageId, replyId, channelId, transcription}.")
async def speech(agent_id: str) -> Any:
    """The api-client's processSpeech: audio in, the transcription and the reply text out."""
    runtime, audio, mime = await _receive(agent_id, ModelType.TRANSCRIPTION)
    with audio_voice.conversation(runtime):
        transcription = await _heard(runtime, audio, mime)
        reply = await _converse(runtime, transcription, {})
    return ok({**reply, "transcription": transcription})


@bp.get("/<agent_id>/voices")
@declare("The voices of the agent's speech model", tags=TAGS, path=AGENT,
         description="Answers {agentId, provider, listsVoices, voices: [{id, name, language, "
                     "gender}]}; a provider that cannot list its voices answers "
                     "listsVoices false and no voices.")
async def voices(agent_id: str) -> Any:
    runtime = _runtime(agent_id)
    provider = _provider(runtime, ModelType.TEXT_TO_SPEECH)
    return ok(await audio_voice.voices(runtime, provider))


@bp.get("/<agent_id>/conversation/status")
@declare("The state of the agent's voice conversations", tags=TAGS, path=AGENT,
         description="Answers {agentId, agentName, canHear, canSpeak, models, inFlight, "
                     "completed, failed, lastConversationAt, lastError}, counted since the "
                     "agent started.")
async def conversation_status(agent_id: str) -> Any:
    return ok(audio_voice.status(_runtime(agent_id)))
