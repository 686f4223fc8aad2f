"""Driving face 1: the HTTP API (Starlette + msgspec) over the use-cases; no driver imports."""
