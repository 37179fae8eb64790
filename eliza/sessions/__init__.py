"""The Sessions API's core: persisted sessions, their timeout rules and the sweeper."""

from .service import SessionService
from .sweeper import run_session_sweeper

__all__ = ["SessionService", "run_session_sweeper"]
