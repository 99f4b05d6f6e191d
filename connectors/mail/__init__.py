"""AgentOps's own mail, as a connector (connectors.mail.connector)."""
