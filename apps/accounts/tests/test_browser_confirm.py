"""Actions that are hard to undo ask first, in a real headless Chromium: cancelling sends nothing."""

from __future__ import annotations

import pytest

from ansflow.testing import answering_dialog, signed_in_page
from apps.accounts.choices import Role
from apps.accounts.models import ApiToken, Membership
from apps.accounts.services import token_create
from apps.accounts.tests.factories import ProjectFactory, UserFactory, make_user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_revoking_a_token_and_removing_a_member_ask_first(browser, asgi_server):
    owner = UserFactory(username="owner")
    token, _key = token_create(actor=owner, user=owner, name="deploy-bot")
    page = signed_in_page(browser, asgi_server.url, "owner")

    page.goto(f"{asgi_server.url}/accounts/tokens/")
    refused = answering_dialog(page, accept=False)
    page.click("form[data-confirm] button")  # returns once the dialog is answered
    assert refused == ["Revoke token deploy-bot? Whatever uses it is refused from then on."]
    assert ApiToken.objects.get(pk=token.pk).status == "active"
    asked = answering_dialog(page, accept=True)
    with page.expect_navigation():
        page.click("form[data-confirm] button")
    assert asked == refused
    assert ApiToken.objects.get(pk=token.pk).status == "revoked"

    shop = ProjectFactory(slug="shop", name="Shop")
    make_user_with_role(shop, Role.OWNER, username="boss")
    make_user_with_role(shop, Role.VIEWER, username="guest")
    page = signed_in_page(browser, asgi_server.url, "boss")
    page.goto(f"{asgi_server.url}/projects/shop/members/")
    guest = Membership.objects.get(project=shop, user__username="guest")
    refused = answering_dialog(page, accept=False)
    page.click(f"button[name=remove][value='{guest.pk}']")
    assert refused == ["Remove guest from Shop?"]
    assert Membership.objects.filter(pk=guest.pk).exists()
    asked = answering_dialog(page, accept=True)
    with page.expect_navigation():
        page.click(f"button[name=remove][value='{guest.pk}']")
    assert asked == refused
    assert not Membership.objects.filter(pk=guest.pk).exists()
