"""Fix and retry: ops' corrected fields go over the input as received, field by field."""

from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.services.exceptions import RETRY, corrected


def _record(original: dict[str, object]) -> ExceptionRecord:
    return ExceptionRecord(
        exception_id="exc_1",
        kind="application-form-invalid",
        channel="application-form",
        source="run_1",
        reference="form.xlsx",
        reason="2 cells failed",
        original=original,
        actions=[RETRY, "reject"],
        created_at="2026-11-24T00:00:00Z",
    )


def test_corrected_fields_replace_only_what_they_name() -> None:
    record = _record({"name": "株式会社サンプル", "contact": {"email": "x@", "name": "山田"}})
    decision = ExceptionAction(
        action=RETRY, version=1, note="fixed the email", corrected={"contact": {"email": "y@a.jp"}}
    )
    assert corrected(record, decision) == {
        "name": "株式会社サンプル",
        "contact": {"email": "y@a.jp", "name": "山田"},
    }
    assert record.original["contact"] == {"email": "x@", "name": "山田"}  # kept as received


def test_without_corrections_the_original_runs_again() -> None:
    record = _record({"lines": [{"sku": "CAM-01"}]})
    decision = ExceptionAction(action=RETRY, version=1, note="price book fixed")
    assert corrected(record, decision) == {"lines": [{"sku": "CAM-01"}]}


def test_a_list_is_replaced_whole() -> None:
    record = _record({"lines": [{"sku": "A"}, {"sku": "B"}]})
    decision = ExceptionAction(
        action=RETRY, version=1, note="one line", corrected={"lines": [{"sku": "C"}]}
    )
    assert corrected(record, decision)["lines"] == [{"sku": "C"}]
