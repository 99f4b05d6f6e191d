"""Deciding in Slack: Block Kit cards (``blocks``, pure), the services behind them (``services``),
the interactivity endpoint (``views``), and a local emulator of Slack's Web API (``sandbox``)."""
