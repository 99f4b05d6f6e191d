from django.urls import path

from support import views

urlpatterns = [
    path("thresholds/", views.threshold_whatif, name="threshold-whatif"),
    path("metrics/", views.support_metrics, name="support-metrics"),
]
