"""Deploy targets: the services' checks, the managed inventory document and the permission policies."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from apps.accounts.models import AuditEvent
from apps.accounts.permissions import has_perm, restrict
from apps.accounts.services import credential_create, membership_set, project_create
from apps.k8s_integration.choices import InventorySource
from apps.k8s_integration.models import DockerHost, Inventory, Registry
from apps.k8s_integration.selectors import inventory_document
from apps.k8s_integration.services import inventory_group_set, inventory_host_set, target_create, target_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", password="x")


@pytest.fixture
def shop(root):
    return project_create(actor=root, slug="shop", name="Shop")


def test_managed_inventory_becomes_a_yaml_inventory(root, shop):
    inventory = target_create(
        actor=root, model=Inventory, project=shop, name="web", source=InventorySource.MANAGED, variables={"a": 1}
    )
    inventory_group_set(actor=root, inventory=inventory, name="prod", variables={"tier": "prod"}, children=["web"])
    inventory_host_set(actor=root, inventory=inventory, name="web1", groups=["web"], variables={"ansible_port": 22})
    suffix, text = inventory_document(inventory)
    assert suffix == ".yml"
    assert yaml.safe_load(text) == {
        "all": {
            "vars": {"a": 1},
            "hosts": {"web1": {"ansible_port": 22}},
            "children": {"prod": {"vars": {"tier": "prod"}, "children": {"web": {}}}, "web": {"hosts": {"web1": {}}}},
        }
    }
    assert AuditEvent.objects.filter(verb="inventory.host_set").count() == 1


def test_registry_credential_must_be_of_the_project_and_kind(root, shop):
    other = project_create(actor=root, slug="other", name="Other")
    foreign = credential_create(
        actor=root, project=other, name="reg", kind="registry", fields={"url": "r", "username": "u", "password": "p"}
    )
    token = credential_create(actor=root, project=shop, name="tok", kind="bearer_token", fields={"token": "t"})
    with pytest.raises(ValidationError, match="another project"):
        target_create(actor=root, model=Registry, project=shop, name="r1", url="127.0.0.1:5000", credential=foreign)
    with pytest.raises(ValidationError, match="registry or username_password"):
        target_create(actor=root, model=Registry, project=shop, name="r1", url="127.0.0.1:5000", credential=token)
    assert not Registry.objects.exists()


def test_docker_host_urls_are_validated_and_changes_audited(root, shop):
    with pytest.raises(ValidationError):
        target_create(actor=root, model=DockerHost, project=shop, name="h", url="ftp://x")
    with pytest.raises(ValidationError, match="tcp://"):
        target_create(actor=root, model=DockerHost, project=shop, name="h", url="unix:///run/d.sock", tls=True)
    host = target_create(actor=root, model=DockerHost, project=shop, name="h", url="unix:///run/d.sock")
    target_update(actor=root, obj=host, url="tcp://10.0.0.5:2376", tls=True)
    event = AuditEvent.objects.get(verb="docker_host.update")
    assert event.changes["url"] == ["unix:///run/d.sock", "tcp://10.0.0.5:2376"]


@pytest.mark.parametrize(
    ("role", "view", "use", "change"),
    [(None, False, False, False), ("viewer", True, False, False), ("operator", True, True, False),
     ("maintainer", True, True, True)],
)  # fmt: skip
def test_permissions_follow_the_project_role(root, shop, role, view, use, change):
    user = get_user_model().objects.create_user("u", password="x")
    if role:
        membership_set(actor=root, project=shop, role=role, user=user)
    host = target_create(actor=root, model=DockerHost, project=shop, name="h", url="unix:///run/d.sock")
    assert has_perm(user, "view", host) is view
    assert has_perm(user, "use", host) is use
    assert has_perm(user, "change", host) is change
    assert has_perm(user, "add", Inventory(project=shop)) is change
    assert list(restrict(DockerHost.objects.all(), user, "view")) == ([host] if view else [])
