"""Data: the default scoring policy and the two shipped feature sets (bank-marketing, demo B2B)."""

from django.db import migrations


def _cat(name, display, source=None):
    return {"name": name, "source": source or f"attributes.{name}", "type": "categorical", "display": display}


def _num(name, display, source=None, **extra):
    return {"name": name, "source": source or f"attributes.{name}", "type": "numeric", "display": display, **extra}


def _events(kind, days, display):
    return {
        "name": f"{kind}_{days}d",
        "source": f"events.{kind}",
        "type": "event_count",
        "window_days": days,
        "display": display,
        "missing": "zero",
    }


BANK_FEATURES = [
    _num("age", "Age"),
    _cat("job", "Job"),
    _cat("marital", "Marital status"),
    _cat("education", "Education"),
    _cat("default", "Credit in default"),
    _cat("housing", "Housing loan"),
    _cat("loan", "Personal loan"),
    _cat("contact", "Contact channel"),
    _cat("month", "Contact month"),
    _cat("day_of_week", "Contact weekday"),
    _num("campaign", "Contacts this campaign"),
    _num("pdays", "Days since last campaign contact"),
    _num("previous", "Earlier contacts"),
    _cat("poutcome", "Previous campaign outcome"),
    _num("emp_var_rate", "Employment variation rate"),
    _num("cons_price_idx", "Consumer price index"),
    _num("cons_conf_idx", "Consumer confidence index"),
    _num("euribor3m", "Euribor 3-month rate"),
    _num("nr_employed", "Employees (thousands, national)"),
]

DEMO_FEATURES = [
    _cat("industry", "Industry", "account.industry"),
    _cat("size_band", "Company size", "account.size_band"),
    _num("employee_count", "Employees", "account.employee_count"),
    _cat("region", "Region", "account.region"),
    _cat("lead_source", "Lead source"),
    _cat("title", "Job title", "lead.title"),
    _events("email_open", 30, "Emails opened (30 days)"),
    _events("email_click", 30, "Email clicks (30 days)"),
    _events("web_visit", 30, "Web visits (30 days)"),
    _events("pricing_visit", 30, "Pricing page visits (30 days)"),
    _events("content_download", 90, "Content downloads (90 days)"),
    _events("webinar", 90, "Webinars attended (90 days)"),
    _events("intent_signal", 30, "Intent signals (30 days)"),
    _events("demo_request", 90, "Demo requests (90 days)"),
    _events("email_reply", 30, "Email replies (30 days)"),
]


def forward(apps, schema_editor):
    FeatureSet = apps.get_model("scoring", "FeatureSet")
    ScoringPolicy = apps.get_model("scoring", "ScoringPolicy")
    ScoringPolicy.objects.get_or_create(kind="lead_score")
    FeatureSet.objects.get_or_create(
        name="bank-marketing",
        defaults={
            "description": "UCI Bank Marketing leads; 'duration' is excluded (only known after the call).",
            "lead_source": "bank-marketing",
            "features": BANK_FEATURES,
            "fairness_groups": [
                {"name": "age band", "source": "attributes.age", "edges": [30, 45, 60]},
                {"name": "marital status", "source": "attributes.marital"},
            ],
        },
    )
    FeatureSet.objects.get_or_create(
        name="demo-b2b",
        defaults={
            "description": "Synthetic B2B SaaS demo leads: firmographics, lead source and engagement.",
            "lead_source": "demo",
            "features": DEMO_FEATURES,
            "fairness_groups": [
                {"name": "region", "source": "account.region"},
                {"name": "industry", "source": "account.industry"},
                {"name": "company size", "source": "account.size_band"},
            ],
        },
    )


def backward(apps, schema_editor):
    apps.get_model("scoring", "FeatureSet").objects.filter(name__in=["bank-marketing", "demo-b2b"]).delete()
    apps.get_model("scoring", "ScoringPolicy").objects.filter(kind="lead_score").delete()


class Migration(migrations.Migration):
    dependencies = [("scoring", "0002_lead_scoring")]

    operations = [migrations.RunPython(forward, backward)]
