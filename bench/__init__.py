"""Engine benchmarks: AnsFlow beside a plain-Celery floor measured in the same run (``python -m bench``)."""
