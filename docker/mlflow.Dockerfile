# MLflow tracking server with the Postgres driver.
FROM python:3.12-slim
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir -c /tmp/constraints.txt mlflow psycopg2-binary
