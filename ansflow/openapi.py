"""OpenAPI extensions: how the schema describes AnsFlow's own authentication."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    target_class = "apps.accounts.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'An API token: "Token <key>" (or "Bearer <key>").',
        }


ERROR_SCHEMA = {
    "type": "object",
    "description": 'An error: "detail" says what went wrong; field errors name their fields.',
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
ERRORS = {
    "400": "Invalid input (the body names each field or spec error)",
    "401": "Not authenticated",
    "403": "Authenticated but not allowed",
    "404": "Not found, or not visible to the caller",
    "409": "Conflicts with the object's current state",
    "413": "Request body too large",
    "429": "Too many requests",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Documents the error answers every operation can give, in one shape."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
                )
    return result
