"""Every write of the executions app: keyword-only, atomic, audited."""

from .approvals import approval_decide, approval_expire
from .retention import logs_expire, notification_deliveries_expire
from .runs import (
    RunError,
    execution_cancel,
    execution_rerun,
    execution_retry_failed,
    execution_start,
    start_queued_in_group,
)

__all__ = [
    "RunError",
    "approval_decide",
    "approval_expire",
    "execution_cancel",
    "execution_rerun",
    "execution_retry_failed",
    "execution_start",
    "logs_expire",
    "notification_deliveries_expire",
    "start_queued_in_group",
]
