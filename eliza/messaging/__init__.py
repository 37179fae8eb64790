"""Messaging: the service every message goes through (`server.messaging`)."""

from .service import MessagingService, Posted

__all__ = ["MessagingService", "Posted"]
