from django.urls import path

from approvals import views

urlpatterns = [
    path("", views.queue, name="approval-queue"),
    path("feedback/", views.feedback, name="approval-feedback"),
    path("bulk-approve/", views.bulk_approve, name="approval-bulk-approve"),
    path("<int:pk>/", views.detail, name="approval-detail"),
    path("<int:pk>/approve/", views.approve, name="approval-approve"),
    path("<int:pk>/reject/", views.reject, name="approval-reject"),
    path("<int:pk>/defer/", views.defer, name="approval-defer"),
]
