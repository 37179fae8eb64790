"""`/api/tee` (any method, any subpath): the Trusted Execution Environment domain, which
this server does not implement: 501 NOT_IMPLEMENTED, saying so. A plugin named `tee` that
registers routes serves the domain instead (the global plugin dispatcher answers before
routing, and `tee` is a name the core leaves to plugins)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from ..errors import ApiError
from .contract import declare
from .inputs import Text

bp = Blueprint("tee", __name__, url_prefix="/api/tee")

METHODS = ["DELETE", "GET", "PATCH", "POST", "PUT"]


class TeeNotImplemented(ApiError):
    status = 501
    code = "NOT_IMPLEMENTED"


@bp.route("", methods=METHODS, defaults={"rest": ""})
@bp.route("/<path:rest>", methods=METHODS)
@declare("Trusted Execution Environment (not implemented: 501)", tags="tee",
         path={"rest": Text(description="any subpath")}, status=501,
         answers={"application/json": {"$ref": "#/components/schemas/Error"}},
         others={"default": ("what a plugin named `tee` answers", {"*/*": {}})},
         description="Always 501 NOT_IMPLEMENTED, unless a plugin named `tee` registers "
                     "routes: then the plugin answers here.")
async def tee(rest: str) -> Any:
    raise TeeNotImplemented(
        "TEE (remote attestation, key derivation) is not implemented by this server; "
        "install a plugin named 'tee' that provides it",
        details={"path": f"/api/tee/{rest}".rstrip("/")})
