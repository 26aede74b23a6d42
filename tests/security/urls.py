"""Every route of the project, found by walking the URL resolver, as concrete request paths."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

# Values put in place of path parameters: any id works for a refusal, which comes before the
# object lookup; slugs name a real dashboard page.
_VALUES = {"format": "json", "name": "wechat", "table": "agents", "fmt": "csv", "app_label": "crm"}


def _concrete(route: str) -> str:
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: _VALUES.get(m.group(1), "1"), route)
    route = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: _VALUES.get(m.group(2), "1"), route)
    return "/" + route.replace("/?", "/").replace("\\.", ".")


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def all_routes() -> list[tuple[str, URLPattern]]:
    """(concrete path, pattern) for every route except DRF's `.json` format-suffix twins."""
    seen, out = set(), []
    for route, pattern in _walk(get_resolver().url_patterns):
        if "format" in route:
            continue
        path = _concrete(route)
        if path not in seen:
            seen.add(path)
            out.append((path, pattern))
    return out


def viewset_of(pattern: URLPattern):
    cls = getattr(pattern.callback, "cls", None)
    actions = getattr(pattern.callback, "actions", None) or {}
    return cls, actions
