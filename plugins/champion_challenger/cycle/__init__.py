"""The steps of one champion–challenger cycle, one module each, named after what they do.

``context`` (config, settings and the clients every step takes), ``ingest`` (configs and services
checked, batches claimed and validated, the window split), ``drift`` (the Evidently report),
``training`` (the plan, candidates trained, the challenger chosen and registered), ``serving_deployment``
(what Triton serves and how the router routes), ``evidence`` (offline replay and online shadow evidence),
``transitions`` (promote, rollback, hold, recover: every champion change), ``recording`` (the decision
written to MLflow) and ``watch`` (the post-promotion watch).

Steps exchange the frozen dataclasses of :mod:`champion_challenger.payloads`; what they decide is
delegated to the pure functions of :mod:`champion_challenger.policy`.
"""
