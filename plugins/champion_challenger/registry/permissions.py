"""Protect ``@champion`` on an MLflow server with basic auth (``mlflow server --app-name basic-auth``).

With ``default_permission = READ`` (``configs/mlflow/basic_auth.ini``) every signed-in user reads every
experiment and model; only who holds EDIT or MANAGE on the registered model may set its aliases. This
module makes the pipeline's service user that holder: an admin creates the registered model and the
pipeline's experiments (so no one else becomes their owner first) and grants the service user MANAGE on
them. Data scientists' users then read everything and change nothing a promotion depends on; a
``set_registered_model_alias`` of theirs is refused with PERMISSION_DENIED.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from champion_challenger.errors import ConfigError

#: Permission the service user gets on the registered model and the pipeline's experiments.
SERVICE_PERMISSION = "MANAGE"


@dataclass(frozen=True)
class Protection:
    """What :func:`protect_champion` set up."""

    model_name: str
    service_user: str
    created_user: bool
    experiments: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def protect_champion(
    tracking_uri: str,
    model_name: str,
    experiment_names: list[str],
    service_user: str,
    service_password: str | None = None,
) -> Protection:
    """Make ``service_user`` the only non-admin user who may change ``model_name`` (aliases, tags, versions).

    Runs with an admin's credentials (``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``).
    Idempotent: an existing user, model, experiment or permission is kept (the permission is updated).

    Args:
        tracking_uri: the MLflow server.
        model_name: the pipeline's registered model.
        experiment_names: the pipeline's experiments (cycle runs, ledger).
        service_user: the user the pipeline (Airflow's tasks, ``ccp``) signs in as.
        service_password: creates ``service_user`` with it when the user does not exist yet.

    Raises:
        ConfigError: the server has no basic auth, the credentials are not an admin's, or the service
            user does not exist and no password was given to create it.
    """
    from mlflow.server import get_app_client

    auth = get_app_client("basic-auth", tracking_uri=tracking_uri)
    created = _ensure_user(auth, service_user, service_password)
    client = MlflowClient(tracking_uri, tracking_uri)
    _ensure_model(client, model_name)
    _grant(auth, service_user, "registered_model", model_name)
    for name in experiment_names:
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
        _grant(auth, service_user, "experiment", experiment_id)
    return Protection(model_name, service_user, created, list(experiment_names))


def _ensure_user(auth, username: str, password: str | None) -> bool:
    try:
        auth.get_user(username)
        return False
    except MlflowException as exc:
        if exc.error_code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
            raise ConfigError(f"MLflow refused to manage users ({exc.message}): run this with an admin's credentials") from None
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise _no_auth(exc) from None
    if not password:
        raise ConfigError(f"MLflow user {username!r} does not exist: give its password (CCP_SERVICE_PASSWORD) to create it")
    auth.create_user(username, password)
    return True


def _ensure_model(client: MlflowClient, model_name: str) -> None:
    try:
        client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(
            model_name, description="Champion–challenger pipeline model; only its service user changes it."
        )


def _grant(auth, username: str, resource_type: str, resource_id: str) -> None:
    """Grant :data:`SERVICE_PERMISSION`, replacing a permission the user already has there."""
    try:
        auth.grant_user_permission(username, resource_type, resource_id, SERVICE_PERMISSION)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        auth.revoke_user_permission(username, resource_type, resource_id)
        auth.grant_user_permission(username, resource_type, resource_id, SERVICE_PERMISSION)


def _no_auth(exc: MlflowException) -> ConfigError:
    return ConfigError(
        f"the MLflow server does not answer basic auth's user API ({exc.message}): start it with "
        "`mlflow server --app-name basic-auth` (the compose stack does)"
    )
