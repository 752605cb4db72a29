"""The visit flow: for each op kind, the facts it requires, the facts that refuse it, the facts it sets and clears,
and the refusal (code and message) of each unmet condition, declared with the kind itself (ops.py: `OpKind.step`)
in this module's vocabulary (Step, Tally, Refusal). The server enforces it (the sync
applier, and the domain functions the desktop forms call, through `enforce`); the phone receives it in
`GET /api/v1/me/jobs` and applies it offline with the same rules, so that a step the server would refuse is never
offered. A fact is a yes/no about a request computed from the database (`facts_of`); the phone starts from the
server's facts and applies its pending ops in order with `apply`.

Evaluation (`refusal_for`), the same on both sides:
1. each fact of `requires`, in order: false -> refused with `refusals[fact]`;
2. each fact of `refused_if`, in order: true -> refused with `refusals[fact]`;
3. each rule of `refused_when`, in order, when the op's payload is known: {name: {"facts": condition, "data":
   condition}} holds when both conditions hold (a condition on the facts reads a fact's value, false when absent;
   one on the payload reads a text trimmed of spaces, tabs, line breaks and ideographic spaces: blank is "")
   -> refused with `refusals[name]`;
4. otherwise accepted. Applying an accepted op (`apply`): every fact of `sets` becomes true, of `clears` false;
   then `sets_if` / `clears_if`: {fact: condition}, where a condition {field: [values]} holds when every named
   payload field's value (null when absent) is one of the values listed; then `tallies`: {fact: {"key": field,
   "value": field, "length": n}}: the op's yes/no `value` becomes the last result of the item named by its `key`
   (trimmed, its first n characters), kept in `facts["tallies"][fact]` = {item: bool}, and the fact holds when
   there is at least one item and every item's last result is yes; `or_value` names a second yes/no field that
   also counts as yes (an item not applicable is no failure). A tally's `complete` fact holds when every item the
   job requires (`facts["required"][fact]`: a list of items, each a list of the names it may be recorded under,
   its Chinese and English names) has a result. So "the tests passed" means the same on both sides: every item of
   the acceptance test passed (or does not apply) at its last recording (a failed item recorded again as passed
   counts as passed; another item passing does not make up for a failed one), and "the tests are answered" that
   no item of the device's checklist is left without a result.

The document sent to the phone (`flow_document`, messages in the user's language), for example:

    {"version": 1,
     "facts": ["contact_made", "remote_guided", ...],
     "steps": {
       "order.signed": {
         "requires": ["arrived", "work_recorded", "tests_recorded", "customer_confirmed"],
         "refused_if": ["signed"],
         "sets": ["signed", "service_ended"], "clears": [], "sets_if": {}, "clears_if": {},
         "refusals": {
           "customer_confirmed": {"code": "not_confirmed",
                                  "message": "The customer has not confirmed that the device works normally yet."},
           "signed": {"code": "order_locked", "message": "The customer has already signed this order."}, ...}},
       "test.recorded": {
         "requires": ["arrived"], "refused_if": ["signed"], "sets": ["tests_recorded"], "clears": [],
         "sets_if": {}, "clears_if": {"customer_confirmed": {"passed": [false]}},
         "tallies": {"tests_passed": {"key": "item", "value": "passed", "length": 200}},
         "refusals": {...}},
       ...}}

and each job of the feed carries `"facts": {"contact_made": true, "arrived": false, ...,
"tallies": {"tests_passed": {"主输出正常": true}}}`.

Bump VERSION whenever a rule changes: the phone keeps the declaration it last received with its cached jobs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l

from ..core.enums import TicketStatus
from ..core.errors import DomainError
from ..requests.models import Ticket

VERSION = 5  # 2: signing requires the cause and work done; tests_passed is a tally of the items' last results;
# 3: every item of the checklist answered (tests_answered), not applicable with a reason, failures acknowledged;
# 4: the job handed back (handed_back); 5: the signature missing (unsigned), leaving after it (may_leave), a visit
# ended for another to follow (visited_before), "on my way" (on_the_way, cleared by a new visit time)

FACTS = ("contact_made", "remote_guided", "remote_resolved", "visit_scheduled", "prep_confirmed", "arrived",
         "problem_confirmed", "work_recorded", "tests_recorded", "tests_passed", "tests_answered", "customer_confirmed",
         "precautions_told", "signed", "departed", "service_ended", "submitted", "returned", "handed_back",
         "unsigned", "may_leave", "visited_before", "on_the_way")

Condition = dict[str, list]
When = dict[str, Condition]  # {"facts": condition, "data": condition}


@dataclass(frozen=True)
class Tally:
    """A fact kept per item: the last yes/no (`value` field) of each item (`key` field, trimmed, first `length`
    characters); the fact holds when there is an item and every item's last answer is yes."""
    key: str
    value: str
    length: int = 200
    or_value: str | None = None
    complete: str | None = None

    def item(self, data: Mapping) -> str:
        return str(data.get(self.key) or "").strip()[:self.length]

    def result(self, data: Mapping) -> bool:
        return data.get(self.value) is True or (self.or_value is not None and data.get(self.or_value) is True)

    def as_dict(self) -> dict:
        return {"key": self.key, "value": self.value, "length": self.length, "or_value": self.or_value,
                "complete": self.complete}


@dataclass(frozen=True)
class Refusal:
    code: str
    message: Any  # a lazy string: rendered in the language of whoever reads it

    def as_dict(self) -> dict:
        return {"code": self.code, "message": str(self.message)}


@dataclass(frozen=True)
class Step:
    requires: tuple[str, ...] = ()
    refused_if: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    clears: tuple[str, ...] = ()
    sets_if: dict[str, Condition] = field(default_factory=dict)
    clears_if: dict[str, Condition] = field(default_factory=dict)
    tallies: dict[str, Tally] = field(default_factory=dict)
    refused_when: dict[str, When] = field(default_factory=dict)
    refusals: dict[str, Refusal] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"requires": list(self.requires), "refused_if": list(self.refused_if), "sets": list(self.sets),
                "clears": list(self.clears), "sets_if": self.sets_if, "clears_if": self.clears_if,
                "refused_when": self.refused_when,
                "tallies": {fact: tally.as_dict() for fact, tally in self.tallies.items()},
                "refusals": {fact: refusal.as_dict() for fact, refusal in self.refusals.items()}}


# --- the refusals, shared by the steps that name the same condition ---------------------------------------------

NOT_CONTACTED = Refusal("not_contacted", _l("Log the first contact with the customer first."))
NO_VISIT = Refusal("no_visit", _l("Schedule the visit with the customer first."))
NOT_ON_SITE = Refusal("not_on_site", _l("Record your arrival at the customer's site first."))
ON_SITE_ALREADY = Refusal("already_on_site", _l("You are already on site: this step is over."))
RESOLVED_REMOTELY = Refusal("resolved_remotely", _l("This request was already solved remotely."))
VISIT_AGREED = Refusal("visit_scheduled", _l("A visit is already scheduled: remote handling is over."))
LOCKED = Refusal("order_locked", _l("The customer has already signed this order: it can no longer change."))
NO_WORK = Refusal("no_work", _l("Record the cause of the problem and the work done first."))
NO_TESTS = Refusal("no_tests", _l("Run the acceptance test with the customer first."))
UNANSWERED = Refusal("tests_unanswered", _l("Every item of the acceptance test needs a result first: passed, failed, "
                                            "or not applicable with the reason."))
NOT_SIGNED = Refusal("not_signed", _l("The customer has not signed the service order yet: you may not leave."))


def steps() -> dict[str, Step]:
    """Each op kind's step, from its one declaration (ops.py, which imports this module's vocabulary)."""
    global _steps
    if _steps is None:
        from .ops import REGISTRY
        _steps = {name: kind.step for name, kind in REGISTRY.items()}
    return _steps


_steps: dict[str, Step] | None = None


def __getattr__(name: str):
    if name == "STEPS":  # flow.STEPS reads as the declaration it is
        return steps()
    raise AttributeError(name)


class FlowRefused(DomainError):
    """An op the declared flow does not allow in the request's current state."""


BLANK = " \t\n\r\u3000"  # trimmed from a text before a condition reads it (the ideographic space too), as flow.js


def _field(data: Mapping, name: str) -> Any:
    value = data.get(name)
    return value.strip(BLANK) if isinstance(value, str) else value


def _holds(condition: Condition, data: Mapping) -> bool:
    return all(_field(data, name) in values for name, values in condition.items())


def _when(rule: When, facts: Mapping, data: Mapping) -> bool:
    return all(bool(facts.get(name)) in values for name, values in rule.get("facts", {}).items()) and \
        _holds(rule.get("data", {}), data)


def refusal_for(kind: str, facts: Mapping[str, Any], data: Mapping | None = None) -> Refusal | None:
    """The one evaluation: why `kind` may not happen now, or None. The `refused_when` rules need the op's payload
    (`data`); without it (may this step be offered at all?) they are not asked."""
    step = steps().get(kind)
    if step is None:
        return None
    for fact in step.requires:
        if not facts.get(fact):
            return step.refusals[fact]
    for fact in step.refused_if:
        if facts.get(fact):
            return step.refusals[fact]
    if data is not None:
        for name, rule in step.refused_when.items():
            if _when(rule, facts, data):
                return step.refusals[name]
    return None


def apply(kind: str, facts: Mapping[str, bool], data: Mapping) -> dict[str, bool]:
    """The facts after an accepted op (what the phone does with each pending op)."""
    step, after = steps()[kind], dict(facts)
    after.update(dict.fromkeys(step.sets, True))
    after.update(dict.fromkeys(step.clears, False))
    after.update({fact: True for fact, condition in step.sets_if.items() if _holds(condition, data)})
    after.update({fact: False for fact, condition in step.clears_if.items() if _holds(condition, data)})
    if step.tallies:
        tallies = dict(after.get("tallies") or {})
        for fact, tally in step.tallies.items():
            results = {**(tallies.get(fact) or {}), tally.item(data): tally.result(data)}
            tallies[fact] = results
            after[fact] = all(results.values())  # never empty: this op's item is in it
            if tally.complete:
                after[tally.complete] = _answered((after.get("required") or {}).get(fact) or [], results)
        after["tallies"] = tallies
    return after


def _answered(required: list[list[str]], results: Mapping[str, bool]) -> bool:
    """Every required item (any of its names) has a result."""
    return all(any(name in results for name in names) for names in required)


def _test_results(ticket: Ticket) -> dict[str, bool]:
    return {test.item: test.passed or test.not_applicable for test in ticket.tests}


def required_tests(ticket: Ticket) -> list[list[str]]:
    """The acceptance-test items the device's category requires, each with the names it may be recorded under
    (its Chinese and English names: the phone shows the user's language)."""
    category = ticket.device_category
    items = category.acceptance_tests if category is not None else []
    return [[name[:200] for name in ((item.get("zh"), item.get("en")) if isinstance(item, dict) else (item,))
             if name] for item in items or []]


def _all_passed(results: dict[str, bool]) -> bool:
    return bool(results) and all(results.values())


def _visit_at(attribute: str) -> Callable[[Ticket, Any], bool]:
    return lambda ticket, visit: visit is not None and getattr(visit, attribute) is not None


# Each fact's one definition: (request, its current visit) -> the fact. `facts_of` computes them all (the phone's
# starting point); `enforce` only those its step names (a note needs "signed" alone: the applier's hot path).
_FACT_RULES: dict[str, Callable[[Ticket, Any], Any]] = {
    "contact_made": lambda ticket, visit: ticket.first_contact_at is not None,
    "remote_guided": lambda ticket, visit: bool(ticket.remote_sessions),
    "remote_resolved": lambda ticket, visit: ticket.remote_resolved_at is not None,
    "visit_scheduled": lambda ticket, visit: visit is not None,
    "prep_confirmed": _visit_at("prep_confirmed_at"),
    "on_the_way": _visit_at("on_the_way_at"),
    "arrived": _visit_at("arrived_at"),
    "problem_confirmed": _visit_at("problem_confirmed_at"),
    "work_recorded": lambda ticket, visit: bool(ticket.cause and ticket.work_done),
    "tests_recorded": lambda ticket, visit: bool(ticket.tests),
    "tests_passed": lambda ticket, visit: _all_passed(_test_results(ticket)),
    "tests_answered": lambda ticket, visit: _answered(required_tests(ticket), _test_results(ticket)),
    "customer_confirmed": _visit_at("customer_confirmed_at"),
    "precautions_told": _visit_at("precautions_told_at"),
    "signed": lambda ticket, visit: ticket.signature is not None,
    "departed": _visit_at("departed_at"),
    "service_ended": lambda ticket, visit: ticket.signature is not None or ticket.remote_resolved_at is not None,
    "submitted": lambda ticket, visit: ticket.status in (TicketStatus.SUBMITTED, TicketStatus.APPROVED),
    "returned": lambda ticket, visit: ticket.status == TicketStatus.RETURNED,
    "handed_back": lambda ticket, visit: ticket.handed_back_at is not None,
    "unsigned": _visit_at("unsigned_at"),
    # The policy: the technician leaves once the customer signed, or once it is recorded why they could not.
    "may_leave": lambda ticket, visit: ticket.signature is not None or (visit is not None and
                                                                        visit.unsigned_at is not None),
    "visited_before": lambda ticket, visit: bool(ticket.earlier_visits),
    "tallies": lambda ticket, visit: {"tests_passed": _test_results(ticket)},
    "required": lambda ticket, visit: {"tests_passed": required_tests(ticket)},
}


class _LazyFacts(Mapping):
    """The facts of one request, each computed (from `_FACT_RULES`) when first asked for."""

    def __init__(self, ticket: Ticket) -> None:
        self._ticket, self._values = ticket, {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            if "visit" not in self.__dict__:
                self.visit = self._ticket.current_visit
            self._values[name] = _FACT_RULES[name](self._ticket, self.visit)
        return self._values[name]

    def __iter__(self):
        return iter(_FACT_RULES)

    def __len__(self) -> int:
        return len(_FACT_RULES)


def facts_of(ticket: Ticket) -> dict[str, Any]:
    """What has happened on a request, from the database (the starting point of the phone's evaluation), with the
    tallies' items (the acceptance test's last result per item)."""
    visit = ticket.current_visit
    return {name: rule(ticket, visit) for name, rule in _FACT_RULES.items()}


def enforce(ticket: Ticket, kind: str, facts: Mapping[str, bool] | None = None, data: Mapping | None = None) -> None:
    """Refuse an act the declared flow does not allow now (the same refusal the phone shows offline). Only the
    facts the step names are computed. `data`: the op's payload, for the rules that read it."""
    refusal = refusal_for(kind, facts if facts is not None else _LazyFacts(ticket), data)
    if refusal is not None:
        raise FlowRefused(refusal.code, refusal.message)


def flow_document() -> dict:
    """The declaration as the phone receives it, its messages in the current user's language."""
    return {"version": VERSION, "facts": list(FACTS),
            "steps": {kind: step.as_dict() for kind, step in steps().items()}}
