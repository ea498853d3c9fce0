"""Who calls a route, and what it may see: every router asks here.

The route's groups were checked before it ran (``functions/manifest.py``, ``app.py``); the
scope goes to the services, whose stores filter by it (``monosub.access``).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from monosub import access, auth


def principal(router: APIGatewayRouter) -> auth.Principal:
    """The signed-in staff member calling (401/403 otherwise)."""
    return auth.require_staff(auth.principal_from_event(router.current_event.raw_event))


def scope(router: APIGatewayRouter) -> access.Scope:
    """The customer records the caller may see."""
    return access.scope_for(principal(router))
