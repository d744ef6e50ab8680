"""Notifications: project targets (email, webhook, Slack) and rules that tell them what happened to runs.

Events come from the engine: ``executions.execution_finished`` (failure, recovered), the scheduler when an
approval gate starts waiting, and the reaper (a run longer than N minutes). Each event creates one delivery
row per target (unique, so an event is sent once), sent by Celery with bounded, exponentially spaced retries.
"""
