"""Zendesk Support connector (zenpy)."""
