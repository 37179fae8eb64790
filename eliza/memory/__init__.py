"""What the API reads and changes of an agent's own data: memories, rooms, worlds and group
memory spaces (`MemoryService`), its log rows and runs (`ActivityService`); memories created,
exported and imported (`transfer`), counted (`insights`)."""

from .activity import ActivityService
from .service import MemoryService

__all__ = ["ActivityService", "MemoryService"]
