"""Triton Python-backend models (``model.py``: a model's versions; ``router.py``: its public entry point) and the
router's shadow path. They run inside Triton's Python stub only; :mod:`..triton_repository` copies them in."""
