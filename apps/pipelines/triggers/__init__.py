"""Trigger objects: the ``on:`` block of a pipeline's current version, kept as rows operators can switch off.

Firing a trigger starts an execution, which the executions app does (``apps.executions.triggers``).
"""
