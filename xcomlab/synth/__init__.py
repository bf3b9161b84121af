"""Synthetic Airflow deployments written as real xcom exports, with their ground truth.

>>> from xcomlab import synth
>>> dep = synth.generate(seed=7, dags=4, days=14)
>>> synth.write(dep, "psql_csv", "/tmp/xcom.csv")  # doctest: +SKIP
>>> dep.truth["value_bytes"]  # doctest: +SKIP
"""

from xcomlab.synth.generate import (
    AIRFLOW_VERSIONS,
    SECRET_KINDS,
    Deployment,
    SynthConfig,
    generate,
    jsonb_text,
)
from xcomlab.synth.writers import FORMATS, write

__all__ = ["AIRFLOW_VERSIONS", "FORMATS", "SECRET_KINDS", "Deployment", "SynthConfig", "generate",
           "jsonb_text", "write"]
