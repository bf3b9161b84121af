"""DAG files shipped with xcomlab (copy them into Airflow's DAGs folder)."""
