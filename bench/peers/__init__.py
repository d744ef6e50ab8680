"""Peers side by side (issue 9 §4): the same chain and fan-out of ``true`` steps in AnsFlow, raw Celery,
Prefect 3 and Apache Airflow 3, each peer installed into a virtual environment of its own under the data dir.

``python -m bench.peers`` (``make bench-peers``) measures them all in one run; see ``bench/README.md``.
"""
