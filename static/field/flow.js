// The visit flow as the server declares it (domain/fieldwork/flow.py, shipped with the jobs feed), applied on the
// phone with the same rules: an op the server would refuse is not offered, and the declaration's message says why.
// Generic on purpose: every rule is data in the declaration, none is written here.
//
// A step: {requires: [fact], refused_if: [fact], sets: [fact], clears: [fact],
//          sets_if: {fact: {field: [values]}}, clears_if: {...},
//          refused_when: {name: {facts: {fact: [values]}, data: {field: [values]}}},
//          tallies: {fact: {key, value, length, or_value, complete}}, refusals: {fact or name: {code, message}}}
// A condition holds when every named payload field's value (null when absent) is one of the values listed; in
// refused_when, a condition on the facts reads each fact as true or false.
// A tally keeps each item's last yes/no in facts.tallies[fact] ({item: bool}, the item trimmed to its first `length`
// characters; yes when `value` or `or_value` is true); the fact holds when every item's last answer is yes, and its
// `complete` fact when every item of facts.required[fact] (each a list of the names it may be recorded under) has one.

// A text is read trimmed of spaces, tabs, line breaks and ideographic spaces (as flow.py): blank is "".
const BLANK = /^[ \t\n\r\u3000]+|[ \t\n\r\u3000]+$/g;

function holds(condition, data) {
  return Object.entries(condition || {}).every(([name, values]) => {
    const given = data && data[name] !== undefined ? data[name] : null;
    const value = typeof given === "string" ? given.replace(BLANK, "") : given;
    return values.some((allowed) => allowed === value);
  });
}

function factsHold(condition, facts) {
  return Object.entries(condition || {}).every(([name, values]) => values.includes(Boolean(facts && facts[name])));
}

function answered(required, results) {
  return (required || []).every((names) => names.some((name) => name in results));
}

function refusal(step, fact) {
  return (step.refusals && step.refusals[fact]) || { code: "refused", message: fact };
}

// null when the op may be applied on these facts, else the refusal {code, message}. Requirements first, in order,
// then the facts that refuse it, then (when the payload is given) the rules that read it: the order the server
// evaluates them in, so the same refusal is named. Without `data`: may the step be offered at all?
export function check(flow, facts, kind, data) {
  const step = flow && flow.steps && flow.steps[kind];
  if (!step) return null;  // a kind the flow does not constrain
  for (const fact of step.requires || []) if (!(facts && facts[fact])) return refusal(step, fact);
  for (const fact of step.refused_if || []) if (facts && facts[fact]) return refusal(step, fact);
  if (data !== undefined) {
    for (const [name, rule] of Object.entries(step.refused_when || {})) {
      if (factsHold(rule.facts, facts) && holds(rule.data, data)) return refusal(step, name);
    }
  }
  return null;
}

// A tally's item and its yes/no from the op's payload.
function tallied(tally, data) {
  const item = Array.from(String((data && data[tally.key]) || "").trim()).slice(0, tally.length).join("");
  const yes = Boolean(data) && (data[tally.value] === true || (tally.or_value && data[tally.or_value] === true));
  return [item, Boolean(yes)];
}

function applyTallies(step, next, data) {
  const tallies = Object.entries(step.tallies || {});
  if (!tallies.length) return;
  next.tallies = { ...(next.tallies || {}) };
  for (const [fact, tally] of tallies) {
    const [item, yes] = tallied(tally, data);
    const results = { ...(next.tallies[fact] || {}), [item]: yes };
    next.tallies[fact] = results;
    next[fact] = Object.values(results).every(Boolean);
    if (tally.complete) next[tally.complete] = answered((next.required || {})[fact], results);
  }
}

// The facts after an accepted op (a new object; the given one is left as it was).
export function apply(flow, facts, kind, data) {
  const next = { ...(facts || {}) };
  const step = flow && flow.steps && flow.steps[kind];
  if (!step) return next;
  for (const fact of step.sets || []) next[fact] = true;
  for (const fact of step.clears || []) next[fact] = false;
  for (const [fact, condition] of Object.entries(step.sets_if || {})) if (holds(condition, data)) next[fact] = true;
  for (const [fact, condition] of Object.entries(step.clears_if || {})) if (holds(condition, data)) next[fact] = false;
  applyTallies(step, next, data);
  return next;
}

// Each op's verdict in order, a refused one leaving the facts as they were (as the server does).
export function run(flow, facts, ops) {
  let current = { ...(facts || {}) };
  return ops.map((op) => {
    const refused = check(flow, current, op.kind, op.data || {});
    if (refused) return { status: "rejected", code: refused.code };
    current = apply(flow, current, op.kind, op.data || {});
    return { status: "applied" };
  });
}
