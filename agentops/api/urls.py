from rest_framework.routers import DefaultRouter

from agentops.api import views
from privacy.api.views import ConsentViewSet
from support.api.views import SurveyResponseViewSet

router = DefaultRouter()
router.register("leads", views.LeadViewSet, basename="lead")
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("actions", views.ProposedActionViewSet, basename="action")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")
router.register("consent", ConsentViewSet, basename="consent")
router.register("support/surveys", SurveyResponseViewSet, basename="survey-response")

urlpatterns = router.urls
