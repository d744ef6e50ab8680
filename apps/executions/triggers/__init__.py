"""Firing triggers: webhooks, schedules and upstream pipelines start executions here (the pipelines app
holds the trigger rows; starting a run is this app's)."""
