"""Make the decision log append-only in the database itself (PostgreSQL).

UPDATE and DELETE are rejected row by row, TRUNCATE by a statement trigger, whoever connects.
SQLite has no such guarantee; there the hash chain (verify_audit_log) detects tampering.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_decision_log_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit_decisionlogentry is append-only: ' || TG_OP || ' is not allowed',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_decision_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_decisionlogentry
    FOR EACH ROW EXECUTE FUNCTION audit_decision_log_reject_change();

CREATE TRIGGER audit_decision_log_no_truncate
    BEFORE TRUNCATE ON audit_decisionlogentry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_decision_log_reject_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_decision_log_no_truncate ON audit_decisionlogentry;
DROP TRIGGER IF EXISTS audit_decision_log_no_update_delete ON audit_decisionlogentry;
DROP FUNCTION IF EXISTS audit_decision_log_reject_change();
"""


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
