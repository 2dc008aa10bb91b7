# Airflow (API server, scheduler, DAG processor, triggerer, Celery workers) with Ludwig, MLflow,
# Evidently and this package, pinned by constraints.txt. The Celery and FAB providers ship with the
# base image; naming them here makes pip keep them consistent with the pinned versions.
FROM apache/airflow:3.3.2-python3.12
# Mount points of the named volumes: Docker gives a new volume the owner of the directory it is
# mounted on, so the pipeline (uid 50000, gid 0) can write its runtime folder and Triton's repository.
USER root
RUN mkdir -p /opt/ccp/runtime/triton/models /opt/ccp/runtime/captures \
    && chown -R airflow:0 /opt/ccp && chmod -R g+rwX /opt/ccp
USER airflow
COPY --chown=airflow:0 constraints.txt pyproject.toml README.md /opt/ccp/
COPY --chown=airflow:0 plugins /opt/ccp/plugins
RUN pip install --no-cache-dir -c /opt/ccp/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" apache-airflow-providers-celery apache-airflow-providers-fab \
        -e /opt/ccp
