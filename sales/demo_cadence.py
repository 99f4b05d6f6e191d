"""The demo cadence the demo playbook enrols hot leads in: 7 steps over email, phone and LinkedIn.

Installed by ``seed_demo``; business users edit the stored copy (templates, steps, waits) in the
admin. The copy keeps to the merge fields in ``sales.templating.MERGE_FIELDS``.
"""

from __future__ import annotations

from django.db import transaction

from sales.demo_playbook import DEMO_QUEUE
from sales.models import Cadence, CadenceStep, MessageTemplate, SdrQueue

DEMO_CADENCE = "Inbound hot – 7 steps"
FOOTER = "\n\n--\nAgentOps demo · 1 Example Street, Springfield\nUnsubscribe: {{ unsubscribe_url }}"

#: (position, channel, wait_days, template name, subject, body)
DEMO_STEPS = [
    (1, "email", 0, "Hot 1 · intro", "{{ first_name }}, a quick idea for {{ company }}",
     "Hi {{ first_name }},\n\nI noticed {{ company }} {{ recent_signal | \"has been looking at ways to grow deposits\" }}. "
     "Teams like yours use us to follow up on every interested customer within a day.\n\n"
     "Worth a 15-minute call this week?\n\n{{ sender_name | \"The AgentOps team\" }}" + FOOTER),
    (2, "phone_task", 2, "Hot 2 · call", "",
     "Call {{ full_name }} ({{ title | \"no title on file\" }}) at {{ company }}. Why now: {{ top_reason | \"high lead score\" }}."),
    (3, "linkedin_task", 1, "Hot 3 · LinkedIn", "",
     "Connect with {{ full_name }} on LinkedIn with a short note referring to the intro email."),
    (4, "email", 2, "Hot 4 · case study", "How a bank like {{ company }} answers every lead in a day",
     "Hi {{ first_name }},\n\nA short case study from a team much like yours is attached to this note. "
     "Happy to walk you through it.\n\n{{ sender_name | \"The AgentOps team\" }}" + FOOTER),
    (5, "phone_task", 3, "Hot 5 · second call", "",
     "Second call to {{ full_name }}; leave a voicemail pointing to the case-study email."),
    (6, "email", 3, "Hot 6 · question", "Still a priority, {{ first_name }}?",
     "Hi {{ first_name }},\n\nIs following up faster with interested customers still on your list this quarter? "
     "A yes or no helps me either way.\n\n{{ sender_name | \"The AgentOps team\" }}" + FOOTER),
    (7, "email", 4, "Hot 7 · break-up", "Closing the loop",
     "Hi {{ first_name }},\n\nI have not heard back, so I will stop writing. If timing changes, just reply.\n\n"
     "{{ sender_name | \"The AgentOps team\" }}" + FOOTER),
]  # fmt: skip


def demo_cadence_ensure() -> Cadence:
    """Create the demo cadence, its templates and the SDR queue if missing (idempotent; edits kept)."""
    with transaction.atomic():
        SdrQueue.objects.get_or_create(
            name=DEMO_QUEUE, defaults={"description": "Inbound leads for the SDR team."}
        )
        cadence, created = Cadence.objects.get_or_create(
            name=DEMO_CADENCE,
            defaults={"description": "Seven touches over about two weeks for hot inbound leads."},
        )
        if created:
            for position, channel, wait, name, subject, body in DEMO_STEPS:
                template, _ = MessageTemplate.objects.get_or_create(
                    name=name, defaults={"channel": channel, "subject": subject, "body": body}
                )
                template.full_clean()
                CadenceStep.objects.create(
                    cadence=cadence, position=position, channel=channel, wait_days=wait, template=template
                )
    return cadence
