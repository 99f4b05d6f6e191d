"""Make the audit seals append-only in the database itself (PostgreSQL), like the decision log.

UPDATE and DELETE are rejected row by row, TRUNCATE by a statement trigger, whoever connects.
The function names the table, so the same one can guard any later append-only table.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' is not allowed',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_seal_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_auditseal
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();

CREATE TRIGGER audit_seal_no_truncate
    BEFORE TRUNCATE ON audit_auditseal
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_seal_no_truncate ON audit_auditseal;
DROP TRIGGER IF EXISTS audit_seal_no_update_delete ON audit_auditseal;
DROP FUNCTION IF EXISTS audit_reject_change();
"""


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_audit_seal")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
