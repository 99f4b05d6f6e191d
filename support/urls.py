from django.urls import path

from support import views

urlpatterns = [
    path("thresholds/", views.threshold_whatif, name="threshold-whatif"),
    path("metrics/", views.support_metrics, name="support-metrics"),
    path("tickets/", views.ticket_list, name="support-tickets"),
    path("tickets/<int:pk>/", views.ticket_page, name="support-ticket"),
    path("tickets/<int:pk>/reply/", views.ticket_reply, name="support-ticket-reply"),
    path("tickets/<int:pk>/intent/", views.ticket_intent, name="support-ticket-intent"),
]
