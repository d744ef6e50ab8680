"""The peers benchmark's two Airflow DAGs; copied into the benchmark's own AIRFLOW_HOME/dags and parsed by Airflow.

``peers_chain``: ``PEERS_CHAIN`` BashOperator tasks running ``true``, each downstream of the one before.
``peers_fanout``: ``PEERS_FANOUT`` independent BashOperator tasks running ``true``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, chain

START = datetime(2024, 1, 1)

with DAG("peers_chain", schedule=None, start_date=START, catchup=False):
    chain(*[BashOperator(task_id=f"s{i:03d}", bash_command="true") for i in range(int(os.environ["PEERS_CHAIN"]))])

with DAG("peers_fanout", schedule=None, start_date=START, catchup=False):
    for i in range(int(os.environ["PEERS_FANOUT"])):
        BashOperator(task_id=f"s{i:03d}", bash_command="true")
