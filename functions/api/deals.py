"""The deals routes (declared in functions/manifest.py, DEALS_ROUTES)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

router = APIGatewayRouter()
