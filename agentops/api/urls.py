from rest_framework.routers import DefaultRouter

from agentops.api import views
from privacy.api.views import ConsentViewSet
from support.api.views import SurveyResponseViewSet

# No `.json` suffix routes: nothing documents them, and the write views took no `format` argument,
# so `POST /api/v1/actions.json` answered 500.
router = DefaultRouter()
router.include_format_suffixes = False
router.register("leads", views.LeadViewSet, basename="lead")
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("actions", views.ProposedActionViewSet, basename="action")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")
router.register("consent", ConsentViewSet, basename="consent")
router.register("support/surveys", SurveyResponseViewSet, basename="survey-response")

urlpatterns = router.urls
