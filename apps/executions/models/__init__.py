from .execution import Execution, StepAttempt, StepExecution
from .logs import Approval, LogLine
from .notifications import NotificationDelivery, NotificationRule, NotificationTarget

__all__ = [
    "Approval",
    "Execution",
    "LogLine",
    "NotificationDelivery",
    "NotificationRule",
    "NotificationTarget",
    "StepAttempt",
    "StepExecution",
]
