-- The MLflow metadata database beside Airflow's.
CREATE DATABASE mlflow;
