from django.urls import path

from connectors.mail import views

app_name = "mail"

urlpatterns = [
    path("inbound/", views.inbound, name="inbound"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
