"""The customer portal's pure rules: a payment-method change's effective closing, meter
readings believed or refused, a month's use, the consumption chart, inquiry due dates on the
bank-day calendar, and who is a customer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from monosub import auth
from monosub.domain import portal
from monosub.domain.portal import MeterReading
from monosub.errors import Forbidden, Unauthorized
from monosub.models.billing import BillingAccount, Component, PendingPaymentMethod
from monosub.models.portal import PaymentMethodChange


def test_the_change_takes_effect_at_the_first_closing_not_invoiced_yet():
    # month-end closing: from the 24th of November, November's invoice is the next one
    assert portal.next_closing(date(2026, 11, 24), 31, date(2026, 10, 31)) == date(2026, 11, 30)
    # on the closing day itself, that closing is not invoiced yet (the run is tomorrow)
    assert portal.next_closing(date(2026, 11, 30), 31, date(2026, 10, 31)) == date(2026, 11, 30)
    # the day after, November's is issued (or being issued): December's
    assert portal.next_closing(date(2026, 12, 1), 31, date(2026, 11, 30)) == date(2026, 12, 31)
    # a closing already billed is never the next, even if the date says so
    assert portal.next_closing(date(2026, 11, 20), 20, date(2026, 11, 20)) == date(2026, 12, 20)
    assert portal.next_closing(date(2026, 12, 25), 20, None) == date(2027, 1, 20)


def _account(**values: object) -> BillingAccount:
    return BillingAccount.model_validate(
        {
            "account_id": "account_a",
            "name": "山田",
            "customer_number": "A",
            "created_at": "2026-11-01T00:00:00Z",
            "updated_at": "2026-11-01T00:00:00Z",
            **values,
        }
    )


def test_a_pending_method_applies_from_its_closing_only():
    pending = PendingPaymentMethod(
        payment_method="convenience-store",
        effective_from=date(2026, 12, 31),
        requested_at="2026-12-02T00:00:00Z",
        requested_by="c1",
    )
    account = _account(pending_payment=pending.model_dump(mode="json"))
    assert portal.payment_at(account, date(2026, 11, 30)) is None
    change = portal.payment_at(account, date(2026, 12, 31))
    assert change == {"payment_method": "convenience-store"}
    billed = portal.with_payment(account, change)
    assert (billed.payment_method, billed.pending_payment) == ("convenience-store", None)


def test_a_card_or_bank_account_must_come_with_its_method():
    with pytest.raises(ValidationError, match="needs the card"):
        PaymentMethodChange(payment_method="card")
    with pytest.raises(ValidationError, match="needs the bank account"):
        PaymentMethodChange(payment_method="direct-debit")
    with pytest.raises(ValidationError, match="for direct debit only"):
        PaymentMethodChange.model_validate(
            {
                "payment_method": "convenience-store",
                "debit_account": {
                    "bank_code": "0001",
                    "branch_code": "001",
                    "account_number": "1234567",
                    "holder_name": "ﾔﾏﾀﾞ ﾀﾛｳ",
                },
            }
        )
    assert PaymentMethodChange(payment_method="convenience-store").card is None


def _history() -> list[MeterReading]:
    return [
        MeterReading("M1", date(2026, 8, 31), Decimal(1000)),
        MeterReading("M1", date(2026, 9, 30), Decimal(1300)),
        MeterReading("M1", date(2026, 10, 31), Decimal(1610)),
    ]


def _fields(problems: list[dict[str, str]]) -> list[str]:
    return [p["field"] for p in problems]


def test_a_plausible_reading_is_believed():
    reading = MeterReading("M1", date(2026, 11, 30), Decimal("1925.5"))
    assert portal.reading_problems(_history(), reading, today=date(2026, 11, 30)) == []
    assert portal.reading_problems([], reading, today=date(2026, 11, 30)) == []


def test_a_lower_reading_is_refused_unless_the_meter_was_replaced():
    lower = MeterReading("M1", date(2026, 11, 30), Decimal(1500))
    problems = portal.reading_problems(_history(), lower, today=date(2026, 11, 30))
    assert _fields(problems) == ["value"] and "lower than the previous" in problems[0]["message"]
    new_meter = MeterReading("M2", date(2026, 11, 30), Decimal(12), replaced=True)
    assert portal.reading_problems(_history(), new_meter, today=date(2026, 11, 30)) == []
    unsaid = MeterReading("M2", date(2026, 11, 30), Decimal(2000))
    assert _fields(portal.reading_problems(_history(), unsaid, today=date(2026, 12, 1))) == [
        "meter"
    ]


def test_a_reading_before_the_last_or_in_the_future_is_refused():
    before = MeterReading("M1", date(2026, 10, 15), Decimal(1700))
    problems = portal.reading_problems(_history(), before, today=date(2026, 11, 30))
    assert _fields(problems) == ["read_on"] and "2026-10-31" in problems[0]["message"]
    same_day = MeterReading("M1", date(2026, 10, 31), Decimal(1700))
    assert _fields(portal.reading_problems(_history(), same_day, today=date(2026, 11, 30))) == [
        "read_on"
    ]
    future = MeterReading("M1", date(2026, 12, 5), Decimal(1700))
    assert "read_on" in _fields(portal.reading_problems([], future, today=date(2026, 11, 30)))


def test_a_reading_far_above_the_history_is_refused():
    # ~10 a day for two months: 5 × 10 × 30 = 1,525 is the most believed for November
    rules = portal.MeterRules(max_factor=Decimal(5), floor_per_day=Decimal(10))
    ok = MeterReading("M1", date(2026, 11, 30), Decimal(1610 + 1500))
    assert portal.reading_problems(_history(), ok, today=date(2026, 12, 1), rules=rules) == []
    typo = MeterReading("M1", date(2026, 11, 30), Decimal(16100))
    problems = portal.reading_problems(_history(), typo, today=date(2026, 12, 1), rules=rules)
    assert _fields(problems) == ["value"] and "history suggests" in problems[0]["message"]
    # too little history (under 28 days): only the floor per day applies
    short = _history()[-1:]
    assert portal.reading_problems(short, typo, today=date(2026, 12, 1), rules=rules) != []
    small = MeterReading("M1", date(2026, 11, 30), Decimal(1610 + 290))
    assert portal.reading_problems(short, small, today=date(2026, 12, 1), rules=rules) == []


def test_a_month_bills_the_use_since_the_reading_before():
    readings = [
        *_history(),
        MeterReading("M1", date(2026, 11, 15), Decimal(1760)),
        MeterReading("M2", date(2026, 11, 30), Decimal(140), replaced=True),
    ]
    assert portal.month_use(readings, "2026-10") == Decimal(310)
    assert portal.month_use(readings, "2026-11") == Decimal(150 + 140)
    assert portal.month_use(readings, "2026-08") is None  # the first reading bills nothing
    assert portal.month_use(readings[:1], "2026-08") is None


def test_the_consumption_chart_has_a_series_per_service_with_gaps():
    components = [
        Component(
            contract_id="contract_1",
            key="t1.u1",
            name="電力量料金",
            sku="ENERGY",
            kind="usage",
            quantity=1,
            unit_price=0,
            amount=0,
            starts=date(2026, 1, 1),
            usage_unit="kWh",
        ),
        Component(
            contract_id="contract_1",
            key="t1.1",
            name="基本料金",
            sku="BASE",
            kind="monthly",
            quantity=1,
            unit_price=1000,
            amount=1000,
            starts=date(2026, 1, 1),
        ),
    ]
    usage = {
        "contract_1|t1.u1|2026-10": "310",
        "contract_1|t1.u1|2026-11": "290.5",
        "contract_1|t1.u1|2025-01": "5",
    }
    months = portal.last_months(date(2026, 11, 24), 3)
    assert months == ["2026-09", "2026-10", "2026-11"]
    assert portal.consumption(components, usage, months) == [
        {"service": "ENERGY", "name": "電力量料金", "unit": "kWh", "values": [None, 310, 290.5]}
    ]
    assert portal.last_months(date(2026, 2, 1), 3) == ["2025-12", "2026-01", "2026-02"]


def test_inquiry_due_dates_count_bank_days():
    rules = portal.load_inquiry_rules()
    assert (rules.acknowledge_bank_days, rules.answer_bank_days) == (1, 10)
    # Friday 2026-11-20: acknowledge Monday 11-23? a holiday (勤労感謝の日): Tuesday 11-24
    assert portal.inquiry_due(date(2026, 11, 20), rules) == (date(2026, 11, 24), date(2026, 12, 7))
    # Saturday: the first bank day after is the acknowledgment's day
    assert portal.add_bank_days(date(2026, 11, 21), 1) == date(2026, 11, 24)
    # over the year end: banks close 12-31 to 01-03
    assert portal.add_bank_days(date(2026, 12, 30), 1) == date(2027, 1, 4)
    assert portal.add_bank_days(date(2026, 11, 21), 0) == date(2026, 11, 24)


def _principal(groups: str, **claims: str) -> auth.Principal | None:
    event = {
        "requestContext": {
            "authorizer": {"claims": {"cognito:username": "c1", "cognito:groups": groups, **claims}}
        }
    }
    return auth.principal_from_event(event)


def test_a_customer_acts_for_its_own_account_only():
    customer = auth.require_customer(_principal("customer", **{auth.ACCOUNT_CLAIM: "account_a"}))
    assert customer == auth.Customer(user="c1", account_id="account_a")
    with pytest.raises(Forbidden, match="custom:account_id"):
        auth.require_customer(_principal("customer"))
    with pytest.raises(Forbidden, match="customers only"):
        auth.require_customer(_principal("ops", **{auth.ACCOUNT_CLAIM: "account_a"}))
    with pytest.raises(Forbidden, match="customers only"):
        auth.require_customer(_principal("customer,ops", **{auth.ACCOUNT_CLAIM: "account_a"}))
    with pytest.raises(Unauthorized):
        auth.require_customer(None)
