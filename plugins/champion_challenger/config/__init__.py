"""Configuration: the process settings (environment), pipeline YAMLs, task defaults, the fleet and Ludwig configs.

Everything here is validated at load and imports nothing above it but the shared vocabulary (``task``, ``errors``).
"""
