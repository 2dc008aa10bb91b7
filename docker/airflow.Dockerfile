# Airflow image with Ludwig, MLflow, Evidently and this package, pinned by constraints.txt.
FROM apache/airflow:3.3.2-python3.12
USER airflow
COPY --chown=airflow:root constraints.txt pyproject.toml README.md /opt/ccp/
COPY --chown=airflow:root plugins /opt/ccp/plugins
RUN pip install --no-cache-dir -c /opt/ccp/constraints.txt -e /opt/ccp
