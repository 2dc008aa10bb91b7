-- One role and one database per system, so Airflow and MLflow cannot read or drop each other's data.
-- The postgres image runs this once, as the superuser, when the postgres-data volume is empty
-- (docker-entrypoint-initdb.d); change a password later with ALTER ROLE, not by editing .env alone.
-- Passwords come from the container environment (.env via docker-compose.yml), never from this file.
\set ON_ERROR_STOP on
\getenv airflow_db_password AIRFLOW_DB_PASSWORD
\getenv mlflow_db_password MLFLOW_DB_PASSWORD

-- Airflow metadata and the Celery result backend.
CREATE ROLE airflow LOGIN PASSWORD :'airflow_db_password';
CREATE DATABASE airflow OWNER airflow;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;

-- MLflow tracking and model registry.
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_db_password';
CREATE DATABASE mlflow OWNER mlflow;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
