"""Kind ``follow-up-policy``: a new overdue follow-up policy (JSON, the format of
``monosub/data/follow_up_policy.json``, docs/overdue-rules.md), so ops change the levels,
their days, emails, tasks and suspension per segment without a deployment.

The whole policy is checked first (every problem with its field: unique keys, days in order,
one suspension, last); a bad one is quarantined and the policy in force stays. Applying makes
it the policy in force from the next daily run (the same policy again changes nothing).
"""

from __future__ import annotations

import hashlib
from typing import Any

from monosub.domain import overdue as rules
from monosub.errors import ValidationFailed
from monosub.intake.kinds import ApplyContext, Parsed, Processor, RowError, register


class FollowUpPolicyFile(Processor):
    kind = "follow-up-policy"
    description = "The overdue follow-up policy (JSON): levels per segment, as data"

    def parse(self, data: bytes) -> Parsed:
        try:
            rules.policy_from_json(data)
        except ValidationFailed as problem:
            errors = [
                RowError(line=1, message=str(d.get("message")), field=d.get("field"))
                for d in (problem.details if isinstance(problem.details, list) else [])
            ]
            return Parsed(errors=errors or [RowError(line=1, message=problem.message)])
        return Parsed(rows=[data.decode("utf-8-sig")])

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.store import cash

        [text] = rows
        sha = hashlib.sha256(text.encode()).hexdigest()
        changed = cash.put_follow_up_policy(text, run_id=context.run_id, sha256=sha)
        return {"policy_changed": int(changed)}


register(FollowUpPolicyFile())
