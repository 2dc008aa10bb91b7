# MLflow tracking server: Postgres backend store (psycopg2), artifacts proxied to S3/MinIO (boto3),
# basic auth (the `auth` extra: Flask-WTF). MLflow and the Postgres driver are pinned by
# constraints.txt; boto3 and Flask-WTF are not in that lock (the pipeline needs neither), so here.
FROM python:3.12-slim
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir -c /tmp/constraints.txt \
        "mlflow[auth]" psycopg2-binary boto3==1.44.8 flask-wtf==1.3.0 \
    && rm /tmp/constraints.txt
# Run unprivileged; /mlflow/auth holds the basic-auth user database (named volume mlflow-auth).
RUN useradd --uid 10001 --gid 0 --create-home mlflow \
    && mkdir -p /mlflow/auth && chown -R mlflow:0 /mlflow
USER mlflow
WORKDIR /home/mlflow
