"""What the phone app is given of the server's declarations, in the shell page (cached with the app's code, so the
code and the declaration it reads always match, offline too): each op kind's label, screen and local effects
(ops.py), the stepper's screens, the enums its forms offer, the sync limits and the signature's checks. The flow's
rules travel with the jobs feed instead (flow.flow_document): they are kept with the cached jobs they judge."""
from __future__ import annotations

from ..core.enums import ContactMethod, RemoteOutcome, TicketStatus
from ..devices.onsite import parts_rules
from ..requests.visits import visit_time_rules
from ..sla.policy import Policy
from .onsite import on_the_way_rules
from .ops import REGISTRY
from .signing import pad_rules
from .unsigned import REASON_MAX


def screens() -> dict[str, dict]:
    """The stepper's screens, each with the kind that does it (the first declared for it) and its done fact."""
    out: dict[str, dict] = {}
    for name, kind in REGISTRY.items():
        if kind.screen and kind.screen not in out:
            out[kind.screen] = {"kind": name, "fact": kind.done_fact, "optional": kind.optional}
    return out


def phone_rules(*, max_ops: int, max_bytes: int, policy: Policy, on_the_way_minutes: int = 30,
                signing_sms_code: bool = False) -> dict:
    """The `rules` JSON of the shell page (labels in the current user's language)."""
    return {
        "ops": {name: kind.for_phone() for name, kind in REGISTRY.items()},
        "screens": screens(),
        "enums": {"contact_methods": [m.value for m in ContactMethod], "statuses": [s.value for s in TicketStatus],
                  "remote_outcomes": [o.value for o in RemoteOutcome]},
        "limits": {"max_ops": max_ops, "max_bytes": max_bytes, "visit_time": visit_time_rules(),
                   "reason_max": REASON_MAX, "on_the_way": on_the_way_rules(on_the_way_minutes)},
        # SIGNING_SMS_CODE: the customer confirms with an SMS code (smscode.py).
        "signature": {**pad_rules(), "sms_code": signing_sms_code},
        "devices": parts_rules(),  # the spare parts catalog, the scanned code's length
        # The policy's minutes the local effects name (a deadline an act starts: effects.op_time_plus).
        "policy": {name: getattr(policy, name) for name in _policy_minutes()},
    }


def _policy_minutes() -> set[str]:
    return {spec["plus"] for kind in REGISTRY.values() for effect in kind.effects
            for spec in [effect.get("to"), *(effect.get("item") or {}).values()] if spec and "plus" in spec}
