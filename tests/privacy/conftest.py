# The sandbox fixtures of the connector tests: an opt-out arrives by a real (local) CRM webhook.
from tests.connectors.conftest import serve_sandbox, webhook_inbox  # noqa: F401
