from django.urls import include, path

from connectors import webhooks

app_name = "connectors"

urlpatterns = [
    # AgentOps's own mail (inbound replies and reports, the unsubscribe page): before the vendors'.
    path("mail/", include("connectors.mail.urls")),
    path("<str:vendor>/<str:connection>/", webhooks.receive, name="webhook"),
]
