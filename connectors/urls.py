from django.urls import path

from connectors import webhooks

app_name = "connectors"

urlpatterns = [
    path("<str:vendor>/<str:connection>/", webhooks.receive, name="webhook"),
]
