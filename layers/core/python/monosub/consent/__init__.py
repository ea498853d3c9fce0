"""Consent without a login: a customer agrees to (or declines) a document on a page reached
by a signed, expiring, single-use link, and the answer moves the business on.

- ``models``: what the customer sees (``ConsentDocument``) and what is kept (``Consent``);
- ``tokens``: the link's token (random id + expiry + HMAC-SHA256), pure functions;
- ``secret``: the signing key, from the declared Secrets Manager secret;
- ``render``: the document, page, result pages and email (Jinja2, ``templates/consent_*``);
- ``service``: ``request_consent`` for other features, and what the public page calls.

This module imports nothing, so the declarations can import ``secret`` cheaply.
``docs/consent.md`` describes the design.
"""
