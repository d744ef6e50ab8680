"""Permission policies of notifications: maintainers edit targets and rules, viewers see them and deliveries."""

from apps.accounts.permissions import register_policy

from ..models import NotificationDelivery, NotificationRule, NotificationTarget

EDITABLE = {"view": "viewer", "add": "maintainer", "change": "maintainer", "delete": "maintainer"}


def register() -> None:
    register_policy(NotificationTarget, project="project", actions=EDITABLE)
    register_policy(NotificationRule, project="project", actions=EDITABLE)
    register_policy(NotificationDelivery, project="project", actions={"view": "viewer"})
