"""Kubernetes clusters: the client factory (``kube``), writes (``services``), reads (``selectors``)."""
