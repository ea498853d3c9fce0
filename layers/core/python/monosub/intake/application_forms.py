"""Kind ``application-form``: a filled Excel application form (申込書, ``.xlsx``), whose layout
per form version is data (``monosub.formats.application_form``, docs/application-forms.md).

A file that is not a form at all (not an .xlsx, macros or embedded objects, too large, a
version no layout knows) is quarantined like any file. A form whose values fail is not: it is
one customer's order, so it becomes an exception listing the exact cells, which the back
office fixes and retries (``services.application_forms``); the run itself succeeds. A valid
form becomes the customer, the deal, the quote with its 契約書 and the consent email. Both
are keyed by the file's sha256, so a retried apply makes nothing twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

from monosub.formats import application_form
from monosub.intake.kinds import ApplyContext, Parsed, Processor, register


class ApplicationFormFile(Processor):
    kind = "application-form"
    description = (
        "An Excel application form (申込書, .xlsx): a new customer's deal with its consent "
        "request, or an exception naming the cells that failed"
    )

    def parse(self, data: bytes) -> Parsed:
        read = application_form.read_form(data)  # FileRejected: quarantined
        return Parsed(rows=[(read, hashlib.sha256(data).hexdigest())])

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import application_forms

        [(read, sha256)] = rows
        file = application_forms.FormFile(context.bucket, context.key, sha256, context.run_id)
        return application_forms.receive(read, file)


register(ApplicationFormFile())
