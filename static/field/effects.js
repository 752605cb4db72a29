// What an op does at once to the phone's copy of its job, as the server declares it (domain/fieldwork/effects.py
// describes the vocabulary; ops.py declares each kind's effects). Generic on purpose: no op kind is named here.
// Plain ECMAScript with no browser API (tested under Node beside flow.js).

function read(object, path) {
  return path.split(".").reduce((at, key) => (at === null || at === undefined ? undefined : at[key]), object);
}

function write(object, path, value) {
  const keys = path.split(".");
  let at = object;
  for (const key of keys.slice(0, -1)) {
    if (at[key] === null || typeof at[key] !== "object") at[key] = {};
    else at[key] = Array.isArray(at[key]) ? [...at[key]] : { ...at[key] };  // copies: the job before stays as it was
    at = at[key];
  }
  at[keys[keys.length - 1]] = value;
}

// The op's time plus minutes, with the op's own offset kept (as the phone writes every time).
function plusMinutes(iso, minutes) {
  const offset = /([+-]\d\d:\d\d|Z)$/.exec(iso)?.[1] || "Z";
  const sign = offset === "Z" ? 0 : (offset[0] === "-" ? -1 : 1);
  const offsetMinutes = sign * (Number(offset.slice(1, 3) || 0) * 60 + Number(offset.slice(4, 6) || 0));
  const local = new Date(Date.parse(iso) + (minutes + offsetMinutes) * 60000).toISOString().slice(0, 23);
  return `${local}${offset === "Z" ? "Z" : offset}`;
}

function valueOf(spec, op, context) {
  if ("value" in spec) return structuredClone(spec.value);
  if ("plus" in spec) return op.at ? plusMinutes(op.at, Number(context?.policy?.[spec.plus]) || 0) : null;
  if ("op" in spec) return op[spec.op] ?? null;
  const data = op.data || {};
  const given = data[spec.data];
  return given === undefined || given === null ? structuredClone(spec.default ?? null) : given;
}

function holds(condition, read) {
  return Object.entries(condition || {}).every(([name, values]) => {
    const value = read(name);
    return values.some((allowed) => allowed === value);
  });
}

function applies(when, job, op, facts) {
  if (!when) return true;
  const data = op.data || {};
  return holds(when.data, (name) => data[name] ?? null) &&
    holds(when.facts, (name) => Boolean(facts && facts[name])) &&
    holds(when.job, (name) => read(job, name) ?? null);
}

function item(template, op, context) {
  return Object.fromEntries(Object.entries(template).map(([field, spec]) => [field, valueOf(spec, op, context)]));
}

// The job after the op's effects (a new object; `facts`: the flow's facts after the op; `context`: {policy}, the
// minutes a deadline an act starts runs for).
export function applyEffects(job, op, effects, facts, context = {}) {
  const next = { ...job };
  for (const effect of effects || []) {
    if (!applies(effect.if, next, op, facts)) continue;
    if ("set" in effect && !("each" in effect)) {
      write(next, effect.set, valueOf(effect.to, op, context));
    } else if ("upsert" in effect) {
      const added = item(effect.item, op, context);
      const list = (read(next, effect.upsert) || []).filter((x) => x[effect.key] !== added[effect.key]);
      write(next, effect.upsert, [...list, added]);
    } else if ("append" in effect) {
      write(next, effect.append, [...(read(next, effect.append) || []), item(effect.item, op, context)]);
    } else if ("each" in effect) {
      const among = effect.where_in ? valueOf(effect.where_in, op, context) || [] : null;
      write(next, effect.each, (read(next, effect.each) || []).map((x) =>
        (among === null || among.includes(x.id) ? { ...x, [effect.set]: valueOf(effect.to, op, context) } : x)));
    }
  }
  return next;
}
