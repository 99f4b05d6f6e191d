"""Connectors to systems of record (CRMs and helpdesks).

Connectors never import models: they take and return plain typed data.
"""
