from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from agentops import health, views
from audit.api.views import DecisionLogExportView
from operations import views as operations_views
from sales import views as sales_views
from scoring import views as scoring_views
from security.forms import LockingAuthenticationForm
from security.permissions import SchemaAccess
from security.views import confirm_password

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("leads/", views.lead_list, name="lead-list"),
    path("leads/<int:pk>/", scoring_views.lead_detail, name="lead-page"),
    path("actions/", views.action_list, name="action-list"),
    path("approvals/", include("approvals.urls")),
    path("scoring/drift/", scoring_views.drift_page, name="drift"),
    path("support/", include("support.urls")),
    path("sales/cadences/", sales_views.cadences_page, name="cadences"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=LockingAuthenticationForm
        ),
        name="login",
    ),
    path("account/confirm-password/", confirm_password, name="confirm-password"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Pages name their icon; the admin's and the API docs' do not, and browsers then ask for this.
    path("favicon.ico", views.favicon),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", operations_views.metrics, name="metrics"),
    path("operations/kpis/", operations_views.kpi_dashboard_page, name="kpis"),
    path("operations/changes/", operations_views.change_log_page, name="change-log"),
    path("operations/roi/", operations_views.roi_page, name="roi"),
    path("webhooks/", include("connectors.urls")),
    # One-click decisions from approvers' email, and Slack's interactivity requests.
    path("notifications/", include("notifications.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/audit/export/", DecisionLogExportView.as_view(), name="audit-export"),
    # Its own namespace: the router's names ("lead-list", "action-list") are the pages' names too,
    # and without one "Leads" and "Actions" in the top bar opened the API's JSON.
    path("api/v1/", include(("agentops.api.urls", "api"), namespace="api")),
    # Public in the demo only; with DEBUG off, for signed-in users and API keys (SchemaAccess).
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[SchemaAccess]), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP forbids inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", permission_classes=[SchemaAccess]),
        name="api-docs",
    ),
]
