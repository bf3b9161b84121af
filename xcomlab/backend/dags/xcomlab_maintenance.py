"""xcomlab's maintenance DAG, ready to copy into the DAGs folder (Airflow 2.10+ and 3.x).

Daily: delete XComs older than 30 days (rows and their objects), purge objects no row
points to (older than one hour) and log the store's size; edit the arguments to taste (see
:func:`xcomlab.backend.maintenance_dag.maintenance_dag` and docs/backend-operations.md).
"""

from datetime import timedelta

from xcomlab.backend.maintenance_dag import maintenance_dag

dag = maintenance_dag(max_age=timedelta(days=30), purge_orphans=True, grace=timedelta(hours=1))
