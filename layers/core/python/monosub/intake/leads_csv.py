"""Kind ``leads``: a CSV of leads (a trade-show list, a partner's referrals).

Columns: company, name, email, phone, source, message (UTF-8 with or without BOM, or cp932).
Every row is validated as a web-form lead would be; a file with any invalid row is refused
whole. Each row becomes a lead (or merges into the open lead with the same email/phone)
under an id derived from the run and the line, so a retried apply creates nothing twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from monosub import ids
from monosub.formats.csv_rows import read_csv
from monosub.intake.kinds import ApplyContext, Parsed, Processor, RowError, register

COLUMNS = ("company", "name", "email", "phone", "source", "message")
_FIELD_OF = {"name": "person_name"}  # CSV column -> LeadSubmission field
_COLUMN_OF = {v: k for k, v in _FIELD_OF.items()}
PROGRESS_EVERY = 50


class LeadsCsv(Processor):
    kind = "leads"
    description = "CSV of leads: company, name, email, phone, source, message"

    def parse(self, data: bytes) -> Parsed:
        table = read_csv(data, required=("company", "name"), optional=COLUMNS)
        from monosub.models.crm import LeadSubmission

        parsed = Parsed()
        for row in table:
            if "__error__" in row.values:
                parsed.errors.append(RowError(row.line, row.values["__error__"]))
                continue
            values: dict[str, Any] = {
                _FIELD_OF.get(k, k): v for k, v in row.values.items() if v != ""
            }
            values.setdefault("source", "csv-import")
            try:
                parsed.rows.append((row.line, LeadSubmission.model_validate(values)))
            except ValidationError as error:
                for problem in error.errors():
                    field = ".".join(str(p) for p in problem["loc"]) or None
                    parsed.errors.append(
                        RowError(
                            line=row.line,
                            field=_COLUMN_OF.get(field, field) if field else None,
                            message=problem["msg"],
                            value=str(values.get(field, "")) if field else None,
                        )
                    )
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import leads

        counts = {"created": 0, "merged": 0}
        for done, (line, submission) in enumerate(rows, start=1):
            receipt = leads.receive_lead(
                submission,
                lead_id=ids.derived_id("lead", f"{context.run_id}#{line}"),
                source_ref=f"s3://{context.bucket}/{context.key}#line={line}",
            )
            counts["merged" if receipt.status == "merged" else "created"] += 1
            if done % PROGRESS_EVERY == 0:
                context.progress(counts)
        return counts


register(LeadsCsv())
