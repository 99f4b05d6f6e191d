"""``{% personal value "email" %}``: a personal value in clear or masked, per the viewer's permission."""

from typing import Any

from django import template

from security.masking import Kind, personal_mapping, personal_value

register = template.Library()


def _user(context: template.Context) -> Any:
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


@register.simple_tag(takes_context=True)
def personal(context: template.Context, value: Any, kind: Kind) -> Any:
    """``value`` masked as ``kind`` (email, phone, name, text) unless the viewer may see it."""
    return personal_value(_user(context), value, kind)


@register.filter
def personal_masked(value: Any, kind: Kind) -> Any:
    """``value`` masked as ``kind`` whoever looks (e.g. in a page for people who never need it)."""
    from security.masking import mask

    return mask(value, kind)


@register.simple_tag(takes_context=True)
def personal_fields(context: template.Context, data: Any) -> Any:
    """A mapping (a payload, a record) with its personal keys masked unless the viewer may see them."""
    return personal_mapping(_user(context), data) if hasattr(data, "items") else data
