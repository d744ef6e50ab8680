from .execution import Execution, StepAttempt, StepExecution
from .logs import Approval, LogLine

__all__ = ["Approval", "Execution", "LogLine", "StepAttempt", "StepExecution"]
