"""Kinds ``stripe-payouts`` (Stripe's itemized payout reconciliation report) and
``settlement-<provider>`` (another provider's settlement file, its columns mapped in
``monosub/data/settlement_providers.json``: a new provider is data, not code).

Every row is read and checked first (``monosub.formats.settlement``: amounts in yen,
gross − fee = net, signs by category, each transaction once); a file with any bad row is
quarantined whole. Applying (``monosub.services.settlements``) matches each payout's
transactions to payments and invoices, or holds a payout that does not add up.
"""

from __future__ import annotations

import io
from typing import Any

from monosub.formats.settlement import (
    STRIPE_ITEMIZED_PAYOUTS,
    ColumnMapping,
    SettlementRow,
    iter_settlement,
    provider_mappings,
)
from monosub.intake.kinds import ApplyContext, Parsed, Processor, register


class Settlement(Processor):
    def __init__(self, kind: str, mapping: ColumnMapping) -> None:
        self.kind = kind
        self.mapping = mapping
        self.description = f"Settlement file of {mapping.provider}: payouts matched to payments"

    def parse(self, data: bytes) -> Parsed:
        parsed = Parsed()
        for item in iter_settlement(io.BytesIO(data), self.mapping):
            if isinstance(item, SettlementRow):
                parsed.rows.append(item)
            else:
                parsed.errors.append(item)
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import settlements

        return settlements.apply(
            rows,
            provider=settlements.provider_of(self.kind),
            run_id=context.run_id,
            file_key=context.key,
        )


register(Settlement("stripe-payouts", STRIPE_ITEMIZED_PAYOUTS))
for _kind, _mapping in provider_mappings().items():
    register(Settlement(_kind, _mapping))
