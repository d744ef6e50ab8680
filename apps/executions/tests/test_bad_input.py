"""Bad pipeline documents through the import API and run_pipeline: a located 400 / exit 2, never a 500."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansflow.testing import subprocess_env
from apps.accounts.choices import Role
from apps.accounts.services import token_create
from apps.accounts.tests.factories import make_user_with_role
from apps.pipelines.tests.test_spec_fuzz import DOCUMENT

from .helpers import project

pytestmark = pytest.mark.django_db

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)
DOCUMENTS = (
    DOCUMENT.map(lambda d: yaml.safe_dump({**d, "metadata": {**d["metadata"], "project": "bad"}}))
    | st.text(max_size=300)
    | st.sampled_from(
        [
            BOMB,
            "[" * 500,
            "a: 1\na: 2\n",
            "apiVersion: ansflow/v1\x00\n",
            "",
            "apiVersion: ansflow/v1\nkind: Pipeline\nmetadata: {name: x, project: bad}\nspec: {steps: [{id: a}]}\n",
        ]
    )
)


@pytest.fixture(scope="module")
def maintainer_key(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        user = make_user_with_role(project("bad"), Role.MAINTAINER)
        return token_create(actor=user, user=user, name="bad")[1]


@given(document=DOCUMENTS)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_import_api_answers_every_document_without_a_server_error(client, maintainer_key, document):
    response = client.post(
        "/api/v1/pipelines/import/?project=bad", data=document.encode("utf-8", "surrogatepass"),
        content_type="application/x-yaml", HTTP_AUTHORIZATION=f"Token {maintainer_key}",
    )  # fmt: skip
    assert response.status_code in (200, 201, 400), response.content[:500]
    if response.status_code == 400:
        errors = response.json()["errors"]
        assert errors
        for error in errors:
            assert error["message"]
            assert isinstance(error["path"], str)
            assert error["line"] is None or error["line"] >= 1


def test_an_alias_bomb_is_refused_quickly_with_its_position(client, maintainer_key):
    response = client.post(
        "/api/v1/pipelines/import/?project=bad", data=BOMB, content_type="application/x-yaml",
        HTTP_AUTHORIZATION=f"Token {maintainer_key}",
    )  # fmt: skip
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert "alias" in error["message"] or "nodes" in error["message"]
    assert error["line"] >= 1


def test_non_utf8_bytes_are_a_located_error(client, maintainer_key):
    response = client.post(
        "/api/v1/pipelines/import/?project=bad", data=b"apiVersion: ansflow/v1\nname: \xff\xfe\n",
        content_type="application/x-yaml", HTTP_AUTHORIZATION=f"Token {maintainer_key}",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 2


@given(document=DOCUMENTS)
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_run_pipeline_refuses_bad_files_with_exit_2(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("bad") / "bad.yaml"
    path.write_bytes(document.encode("utf-8", "surrogatepass"))
    result = subprocess.run(
        [sys.executable, "manage.py", "run_pipeline", str(path), "--project", "bad", "--timeout", "1"],
        env=subprocess_env(LOG_LEVEL="ERROR"), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 1, 2)
    if result.returncode == 2:
        assert "error(s)" in result.stderr or "input" in result.stderr
