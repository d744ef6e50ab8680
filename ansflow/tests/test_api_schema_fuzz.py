"""schemathesis against the live server's own OpenAPI schema, as a maintainer and as a viewer:
no server errors, no response that breaks the schema."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts.choices import Role
from apps.accounts.services import token_create
from apps.accounts.tests.factories import make_user_with_role
from apps.executions.tests.helpers import pipeline_yaml, project, superuser
from apps.pipelines.services import pipeline_import


@pytest.fixture(scope="module")
def api_schema(django_db_setup, django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        document = Client().get("/api/schema/?format=json").json()
    return schemathesis.openapi.from_dict(document)


def token_headers(role: str, django_db_blocker) -> dict[str, str]:
    with django_db_blocker.unblock():
        proj = project("fuzz")
        if not proj.pipelines.exists():
            pipeline_import(
                actor=superuser(), project=proj,
                yaml_text=pipeline_yaml("fuzzed", "- {id: a, type: shell, run: 'true'}", project_slug="fuzz"),
            )  # fmt: skip
        user = make_user_with_role(proj, role)
        _token, key = token_create(actor=user, user=user, name="fuzz")
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def maintainer_headers(django_db_blocker):
    return token_headers(Role.MAINTAINER, django_db_blocker)


@pytest.fixture
def viewer_headers(django_db_blocker):
    return token_headers(Role.VIEWER, django_db_blocker)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# CI runs a bounded number of examples per operation; set ANSFLOW_FUZZ_EXAMPLES for a longer hunt.
EXAMPLES = int(os.environ.get("ANSFLOW_FUZZ_EXAMPLES", "8"))


def fuzz_every_operation(api_schema, base_url: str, headers: dict[str, str], examples: int = EXAMPLES) -> int:
    """A bounded number of generated requests per operation; fails on the first broken check."""
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

        check()
    return operations


@pytest.mark.django_db(transaction=True)
def test_api_as_a_maintainer_never_errors_and_keeps_its_schema(api_schema, asgi_server, maintainer_headers):
    assert fuzz_every_operation(api_schema, asgi_server.url, maintainer_headers) > 20


@pytest.mark.django_db(transaction=True)
def test_api_as_a_viewer_never_errors_and_keeps_its_schema(api_schema, asgi_server, viewer_headers):
    assert fuzz_every_operation(api_schema, asgi_server.url, viewer_headers) > 20
