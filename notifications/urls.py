from django.urls import path

from notifications import views

urlpatterns = [
    path("decide/<str:token>/", views.decide_by_email, name="decide-by-email"),
]
