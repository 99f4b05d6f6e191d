"""Intercom connector (python-intercom, the official generated SDK)."""
