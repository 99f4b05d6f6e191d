from django.urls import path

from connectors.twilio import views

app_name = "twilio"

urlpatterns = [
    path("<str:connection>/status/", views.status, name="status"),
    path("<str:connection>/inbound/", views.inbound, name="inbound"),
]
