from django.conf import settings
from django.http import HttpRequest


def environment(request: HttpRequest) -> dict[str, str]:
    return {"environment": settings.ENVIRONMENT}
