"""Prometheus metrics (``/metrics``) and the live WebSocket connection count."""
