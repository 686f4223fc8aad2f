"""The ``cloudperf`` command (driving face 2): argument parsing and output only.

The entry point is :func:`cloudperf_core.cli.main.main`; nothing is imported here, so
``python -m cloudperf_core.cli.main`` runs the module once.
"""
