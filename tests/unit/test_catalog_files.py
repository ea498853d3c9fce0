"""The price-book and campaigns file kinds without AWS: every row checked with its line, the
rows against each other, and against a catalog given in memory."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from monosub.intake import catalog_files, kinds
from monosub.intake.kinds import FileRejected
from tests.unit.test_pricing import entry, version

DATA = Path(__file__).resolve().parents[1] / "data" / "catalog"
HEADER = (
    "sku,name,kind,acquisition,installation_required,fits_plans,"
    "monthly_yen,one_time_yen,tax,valid_from,valid_to\n"
)


def no_catalog(skus):
    return {}


def price_book(*rows: str, lookup=no_catalog):
    data = (HEADER + "\n".join(rows) + "\n").encode()
    return catalog_files.PriceBookCsv(lookup=lookup).parse(data)


def errors_of(parsed) -> list[tuple[int, str | None, str]]:
    return [(e.line, e.field, e.message) for e in parsed.errors]


def test_both_kinds_are_registered():
    assert {"price-book", "campaigns"} <= set(kinds.known_kinds())


# ---- price-book -----------------------------------------------------------------------------


def test_the_sample_price_book_is_valid():
    parsed = catalog_files.PriceBookCsv(lookup=no_catalog).parse(
        (DATA / "price-book.csv").read_bytes()
    )
    assert parsed.errors == []
    assert len(parsed.rows) == 12
    camera = parsed.rows[0]
    assert (camera.line, camera.product.sku, camera.price.one_time_yen) == (
        2,
        "CAM-ONE-SALE",
        39800,
    )
    option = next(r for r in parsed.rows if r.product.sku == "OPT-DOWNLOAD")
    assert option.product.fits_plans == ["PLAN-7D", "PLAN-30D", "PLAN-365D"]
    outdoor = next(r for r in parsed.rows if r.product.sku == "CAM-OUT-SALE")
    assert outdoor.product.installation_required


def test_the_invalid_sample_names_every_bad_row():
    parsed = catalog_files.PriceBookCsv(lookup=no_catalog).parse(
        (DATA / "price-book-invalid.csv").read_bytes()
    )
    assert errors_of(parsed) == [
        (2, None, "a device is sold or rented: give acquisition"),
        (3, "monthly_yen", "not a whole yen amount"),
        (4, "fits_plans[0]", "PLAN-90D is not in the catalog nor the file"),
        (5, "tax", "Input should be 'standard' or 'reduced'"),
        (
            5,
            "valid_from",
            "Input should be a valid date or datetime, day value is outside expected range",
        ),
        (6, None, "valid_to is before valid_from"),
        (7, None, "give monthly_yen, one_time_yen or usage_tiers (one or more)"),
    ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("1980", 1980), ('"1,980"', 1980), ("¥1980", 1980), ('"￥１，９８０"', 1980)],
)
def test_amounts_are_read_in_the_usual_spellings(cell, expected):
    parsed = price_book(f"PLAN-30D,録画プラン 30日,plan,,,,{cell},,standard,2026-04-01,")
    assert parsed.errors == []
    assert parsed.rows[0].price.monthly_yen == expected


def test_slashed_dates_and_flags():
    parsed = price_book(
        "CAM-OUT,屋外カメラ,device,sale,はい,,,64800,standard,2026/04/01,2027/03/31",
        "CAM-X,カメラX,device,sale,maybe,,,1,standard,2026-04-01,",
    )
    assert parsed.rows[0].product.installation_required
    assert parsed.rows[0].price.valid_to == dt.date(2027, 3, 31)
    assert errors_of(parsed) == [(3, "installation_required", "true or false")]


def test_a_sku_keeps_its_attributes_and_one_version_per_start():
    parsed = price_book(
        "PLAN-30D,録画プラン 30日,plan,,,,1980,,standard,2026-04-01,",
        "PLAN-30D,録画プラン30日,plan,,,,2180,,standard,2026-10-01,",
        "PLAN-30D,録画プラン 30日,plan,,,,2280,,standard,2026-04-01,",
    )
    assert errors_of(parsed) == [
        (3, "sku", "PLAN-30D has other attributes on line 2"),
        (4, "valid_from", "PLAN-30D has a version from 2026-04-01 on line 2 already"),
    ]


def test_versions_of_one_sku_in_a_file_follow_each_other():
    parsed = price_book(
        "PLAN-30D,録画プラン 30日,plan,,,,2180,,standard,2026-10-01,",
        "PLAN-30D,録画プラン 30日,plan,,,,1980,,standard,2026-04-01,2026-06-30",
        "PLAN-30D,録画プラン 30日,plan,,,,1980,,standard,2026-06-01,",
    )
    assert errors_of(parsed) == [
        (
            4,
            "valid_from",
            "overlaps PLAN-30D's price version from 2026-04-01 to 2026-06-30, "
            "which has an explicit end",
        ),
    ]
    assert [r.line for r in parsed.rows] == [2, 3]


def test_rows_are_checked_against_the_catalog():
    catalog = dict(
        [
            entry("PLAN-30D", "plan", name="録画プラン 30日", monthly_yen=1980),
            entry("CAM-ONE", "device", name="カメラ", acquisition="sale", one_time_yen=39800),
        ]
    )

    def lookup(skus):
        return {sku: catalog[sku] for sku in skus if sku in catalog}

    parsed = price_book(
        "PLAN-30D,録画プラン 30日,plan,,,,1980,,standard,2026-04-01,",  # the same: fine
        "PLAN-30D,録画プラン 30日,plan,,,,2180,,standard,2026-10-01,",  # next version: fine
        "CAM-ONE,カメラ,device,rental,,,980,,standard,2026-04-01,",  # other attributes
        "OPT-1,オプション,option,,,PLAN-30D|CAM-ONE,300,,standard,2026-04-01,",
        lookup=lookup,
    )
    assert errors_of(parsed) == [
        (
            4,
            "sku",
            "CAM-ONE is in the catalog with other attributes; products are never edited "
            "(retire it and add a new SKU)",
        ),
        (
            4,
            "valid_from",
            "CAM-ONE has a price version from 2026-04-01 with other terms; "
            "versions are never edited: add one from a later day",
        ),
        (5, "fits_plans[1]", "CAM-ONE is a device"),
    ]


def test_a_version_before_the_newest_in_the_catalog_is_refused():
    later = version("PLAN-30D", dt.date(2026, 10, 1), monthly_yen=2180)
    catalog = dict([entry("PLAN-30D", "plan", name="録画プラン 30日", prices=(later,))])
    parsed = price_book(
        "PLAN-30D,録画プラン 30日,plan,,,,1980,,standard,2026-05-01,",
        lookup=lambda skus: catalog,
    )
    assert errors_of(parsed) == [
        (
            2,
            "valid_from",
            "PLAN-30D has a price version from 2026-10-01; a new version starts after the "
            "newest one (history is not rewritten)",
        )
    ]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"sku,name\nA,B\n", "missing_columns"),
        (HEADER.encode(), "empty_file"),
        ((HEADER.rstrip("\n") + ",colour\n").encode(), "unknown_columns"),
    ],
)
def test_a_price_book_that_cannot_be_read_is_rejected_whole(data, code):
    with pytest.raises(FileRejected) as caught:
        catalog_files.PriceBookCsv(lookup=no_catalog).parse(data)
    assert caught.value.code == code


def test_a_cp932_price_book_is_read():
    data = (HEADER + "SVC-INSTALL,設置工事,service,,,,,25000,standard,2026-04-01,\n").encode(
        "cp932"
    )
    parsed = catalog_files.PriceBookCsv(lookup=no_catalog).parse(data)
    assert parsed.rows[0].product.name == "設置工事"


# ---- usage prices in the price book ---------------------------------------------------------

USAGE_HEADER = HEADER.rstrip("\n") + ",usage_unit,usage_tiers\n"


def usage_price_book(*rows: str):
    data = (USAGE_HEADER + "\n".join(rows) + "\n").encode()
    return catalog_files.PriceBookCsv(lookup=no_catalog).parse(data)


def test_a_usage_price_is_read_with_its_unit_and_tiers():
    parsed = usage_price_book(
        "PLAN-ENERGY,電力プラン 従量電灯,plan,,,,885,,standard,2026-04-01,,kWh,"
        "120:29.80|300:36.40|:40.49",
        "PLAN-30D,録画プラン 30日,plan,,,,1980,,standard,2026-04-01,,,",
    )
    assert parsed.errors == []
    energy, plan = (row.price for row in parsed.rows)
    assert (energy.monthly_yen, energy.usage_unit) == (885, "kWh")
    assert [(t.up_to, t.unit_yen) for t in energy.usage_tiers] == [
        (120, Decimal("29.80")),
        (300, Decimal("36.40")),
        (None, Decimal("40.49")),
    ]
    assert (plan.usage_unit, plan.usage_tiers) == (None, None)


def test_full_width_tiers_and_a_price_without_base_amount():
    parsed = usage_price_book(
        'OPT-CLOUD,クラウド容量 従量,plan,,,,,,standard,2026-04-01,,ＧＢ,"１，０００：５｜：４.５"'
    )
    assert parsed.errors == []
    price = parsed.rows[0].price
    assert (price.monthly_yen, price.usage_unit) == (None, "GB")
    assert [(t.up_to, t.unit_yen) for t in price.usage_tiers] == [
        (1000, Decimal(5)),
        (None, Decimal("4.5")),
    ]


def test_bad_usage_cells_name_the_line_and_the_field():
    row = "PLAN-E{0},電力{0},plan,,,,885,,standard,2026-04-01,,{1},{2}"
    parsed = usage_price_book(
        row.format(1, "kWh", "120-29.80|:40"),
        row.format(2, "kWh", "120:29.805|:40"),
        row.format(3, "kWh", "300:36.40|120:29.80|:40"),
        row.format(4, "kWh", "120:29.80"),
        row.format(5, "", "120:29.80|:40"),
        row.format(6, "kWh", ""),
        row.format(7, "kWh", "abc:1|:2"),
    )
    assert errors_of(parsed) == [
        (
            2,
            "usage_tiers",
            "tier '120-29.80' is not up_to:unit_yen "
            "(tiers like 120:29.80|300:36.40|:40.49, the last without up_to)",
        ),
        (3, "usage_tiers[0].unit_yen", "Decimal input should have no more than 2 decimal places"),
        (4, "usage_tiers", "tiers go by ascending up_to, each above the previous"),
        (5, "usage_tiers", "the last tier is open: leave its up_to empty"),
        (6, None, "a usage price gives both usage_unit and usage_tiers"),
        (7, None, "a usage price gives both usage_unit and usage_tiers"),
        (
            8,
            "usage_tiers",
            "tier 'abc:1' is not up_to:unit_yen "
            "(tiers like 120:29.80|300:36.40|:40.49, the last without up_to)",
        ),
    ]
    assert parsed.errors[0].value == "120-29.80|:40"


def test_a_usage_version_identical_to_the_catalog_changes_nothing_and_another_is_refused():
    tiers = [{"up_to": 120, "unit_yen": "29.8"}, {"up_to": None, "unit_yen": "40.49"}]
    catalog = dict(
        [
            entry(
                "PLAN-ENERGY",
                "plan",
                name="電力",
                prices=(version("PLAN-ENERGY", usage_unit="kWh", usage_tiers=tiers),),
            )
        ]
    )
    parsed = catalog_files.PriceBookCsv(lookup=lambda skus: catalog).parse(
        (
            USAGE_HEADER
            + "PLAN-ENERGY,電力,plan,,,,,,standard,2026-04-01,,kWh,120:29.80|:40.49\n"
            + "PLAN-ENERGY,電力,plan,,,,,,standard,2026-10-01,,kWh,120:30.00|:41.00\n"
        ).encode()
    )
    assert parsed.errors == []
    assert [r.line for r in parsed.rows] == [2, 3]
    changed = catalog_files.PriceBookCsv(lookup=lambda skus: catalog).parse(
        (
            USAGE_HEADER + "PLAN-ENERGY,電力,plan,,,,,,standard,2026-04-01,,kWh,120:29.80|:41\n"
        ).encode()
    )
    assert [(e.line, e.field) for e in changed.errors] == [(2, "valid_from")]
    assert "other terms" in changed.errors[0].message


# ---- campaigns ------------------------------------------------------------------------------


def campaigns_file(lookup=None, existing=None) -> catalog_files.CampaignsJson:
    every_sku = lookup or dict.fromkeys
    return catalog_files.CampaignsJson(lookup=every_sku, existing=existing or (lambda code: None))


def test_the_sample_campaigns_are_valid():
    parsed = campaigns_file().parse((DATA / "campaigns.json").read_bytes())
    assert parsed.errors == []
    assert [(r.line, r.campaign.code) for r in parsed.rows] == [
        (2, "NEW-OPEN-2026"),
        (15, "STARTER-SET"),
        (24, "CORP-BULK-10"),
        (36, "WEB-INSTALL-5000"),
    ]


def test_the_invalid_campaigns_name_the_line_and_the_field():
    parsed = campaigns_file().parse((DATA / "campaigns-invalid.json").read_bytes())
    assert errors_of(parsed) == [
        (2, "effect.percent", "Input should be less than or equal to 100"),
        (9, None, "valid_to is before valid_from"),
        (
            16,
            "effect",
            "Input tag 'cashback' found using 'type' does not match any of the expected "
            "tags: 'percent', 'fixed', 'free_months', 'bundle'",
        ),
        (23, "code", "campaign HALF-PRICE is on line 2 already"),
    ]


def test_campaigns_are_checked_against_the_catalog():
    from monosub.models.catalog import CampaignDraft

    stored = CampaignDraft.model_validate(
        {
            "code": "TAKEN",
            "name": "既存",
            "valid_from": "2026-04-01",
            "eligibility": {"skus": ["PLAN-30D"]},
            "effect": {"type": "free_months", "months": 1},
        }
    )
    data = b"""[
  {"code": "TAKEN", "name": "\\u65e2\\u5b58", "valid_from": "2026-04-01",
   "eligibility": {"skus": ["PLAN-30D"]}, "effect": {"type": "free_months", "months": 1}},
  {"code": "TAKEN2", "name": "x", "valid_from": "2026-04-01",
   "eligibility": {"skus": ["PLAN-30D", "NOPE"]}, "effect": {"type": "free_months", "months": 1}},
  {"code": "SET", "name": "x", "valid_from": "2026-04-01",
   "effect": {"type": "bundle", "skus": ["NOPE", "PLAN-30D"], "monthly_yen": 1}}
]"""
    parsed = campaigns_file(
        lookup=lambda skus: {s: None for s in skus if s == "PLAN-30D"},
        existing=lambda code: stored if code == "TAKEN" else None,
    ).parse(data)
    assert errors_of(parsed) == [
        (4, "eligibility.skus[1]", "unknown SKU NOPE"),
        (6, "effect.skus[0]", "unknown SKU NOPE"),
    ]
    assert [r.campaign.code for r in parsed.rows] == ["TAKEN"]  # identical: applies as a no-op
    changed = data.replace(
        b'"months": 1}},\n  {"code": "TAKEN2"', b'"months": 2}},\n  {"code": "TAKEN2"'
    )
    parsed = campaigns_file(
        lookup=lambda skus: {s: None for s in skus if s == "PLAN-30D"},
        existing=lambda code: stored if code == "TAKEN" else None,
    ).parse(changed)
    assert errors_of(parsed)[0] == (
        2,
        "code",
        "campaign TAKEN exists with other terms; campaigns are never edited: give the new "
        "offer a new code",
    )


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b"", "empty_file", "the file is empty"),
        (b"[]", "empty_file", "the file lists no campaigns"),
        (b'{"code": "X"}', "malformed_json", "line 1: the file is a JSON array"),
        (b'[\n  {"code": "X"},\n  {"code": \n]', "malformed_json", "line 4: Expecting value"),
        (b'[{"code": "X"} {"code": "Y"}]', "malformed_json", "line 1: expected , or ]"),
        (b'[{"code": "X"}]\nmore', "malformed_json", "line 2: unexpected text after the array"),
        (b"\xff\xfe", "undecodable", "the file is not valid utf-8-sig text"),
    ],
)
def test_a_campaigns_file_that_cannot_be_read_is_rejected_whole(data, code, message):
    with pytest.raises(FileRejected) as caught:
        campaigns_file().parse(data)
    assert caught.value.code == code
    assert caught.value.message.startswith(message)


def test_json_array_elements_know_their_lines():
    text = '[\n  1,\n  {"a":\n    2},\n  "three"\n]\n'
    assert catalog_files.json_array_elements(text) == [(2, 1), (3, {"a": 2}), (5, "three")]
