from rest_framework.routers import DefaultRouter

from agentops.api import views

router = DefaultRouter()
router.register("leads", views.LeadViewSet, basename="lead")
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("actions", views.ProposedActionViewSet, basename="action")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")

urlpatterns = router.urls
