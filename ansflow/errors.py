"""One JSON error shape for the whole API: ``{"detail": "...", "errors": ...}``.

``detail`` is always a sentence; ``errors`` (when there is more to say) maps each
field to its messages, or lists spec issues with their path, line and column.
"""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def _first_message(errors: Any) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            if message:
                return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors) if errors else ""


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProtectedError):
        # Runs keep the pipeline versions they ran: deleting what they refer to is a conflict, not a crash.
        count = len(exc.protected_objects)
        detail = f"This cannot be deleted: {count} other record(s) still refer to it (runs keep their versions)."
        return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": _first_message(data) or "Invalid input.", "errors": data}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"]), **{k: v for k, v in data.items() if k != "detail"}}
    else:
        response.data = {"detail": _first_message(data) or "Error.", "errors": data}
    return response
