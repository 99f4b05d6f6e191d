from django.urls import include, path

from connectors import webhooks

app_name = "connectors"

urlpatterns = [
    # AgentOps's own mail (inbound replies and reports, the unsubscribe page): before the vendors'.
    path("mail/", include("connectors.mail.urls")),
    # Twilio's message status callbacks and texts received (connectors/twilio/views.py).
    path("twilio/", include("connectors.twilio.urls")),
    path("<str:vendor>/<str:connection>/", webhooks.receive, name="webhook"),
]
