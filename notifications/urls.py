from django.urls import path

from notifications import views
from notifications.slack import views as slack_views

urlpatterns = [
    path("decide/<str:token>/", views.decide_by_email, name="decide-by-email"),
    path("slack/interactivity/", slack_views.interactivity, name="slack-interactivity"),
]
