/* A Logs page query as the page holds it, and its two other forms: the address bar's parameters (so
 * a filter can be shared as a link) and the body of POST /v0/logs/query.
 *
 * State: {source, level, range, since, until, match, conditions: [{field, op, value}]}. `range` is a
 * preset ("15m", "1h", ...) counted back from the moment the query is sent, or "custom" with `since`
 * and `until` as ISO 8601 instants. In the address a condition is one `c` parameter,
 * "field:op:value" (the value may itself contain colons).
 */

export const FIELDS = ["message", "logger", "any"];
export const OPS = ["contains", "not_contains", "regex", "not_regex"];
export const LEVELS = ["debug", "info", "warning", "error"];
export const MATCHES = ["all", "any"];

/* The presets' lengths in seconds: "15m", "1h", "6h", "24h", "7d". */
export function rangeSeconds(range) {
  const found = /^(\d+)([mhd])$/.exec(range || "");
  if (!found) {
    return null;
  }
  return parseInt(found[1], 10) * {m: 60, h: 3600, d: 86400}[found[2]];
}

function validInstant(text) {
  return typeof text === "string" && text !== "" && !Number.isNaN(Date.parse(text));
}

/* A state from URL parameters, anything missing or unknown replaced by the defaults. */
export function fromParams(params, defaults) {
  const level = params.get("level");
  const match = params.get("match");
  let range = params.get("range") || (params.get("since") ? "custom" : defaults.range);
  if (range !== "custom" && rangeSeconds(range) === null) {
    range = defaults.range;
  }
  const conditions = params.getAll("c").map(parseCondition).filter(Boolean);
  return {
    source: params.get("source") || defaults.source,
    level: LEVELS.includes(level) ? level : defaults.level,
    range: range,
    since: range === "custom" && validInstant(params.get("since")) ? params.get("since") : "",
    until: range === "custom" && validInstant(params.get("until")) ? params.get("until") : "",
    match: MATCHES.includes(match) ? match : "all",
    conditions: conditions,
  };
}

function parseCondition(text) {
  const first = text.indexOf(":");
  const second = first < 0 ? -1 : text.indexOf(":", first + 1);
  if (second < 0) {
    return null;
  }
  const condition = {field: text.slice(0, first), op: text.slice(first + 1, second), value: text.slice(second + 1)};
  return FIELDS.includes(condition.field) && OPS.includes(condition.op) ? condition : null;
}

/* The URL parameters of a state (without `source` when `withSource` is false: the tabs add theirs). */
export function toParams(state, withSource) {
  const params = new URLSearchParams();
  if (withSource !== false) {
    params.set("source", state.source);
  }
  params.set("level", state.level);
  params.set("range", state.range);
  if (state.range === "custom") {
    if (state.since) {
      params.set("since", state.since);
    }
    if (state.until) {
      params.set("until", state.until);
    }
  }
  params.set("match", state.match);
  for (const condition of state.conditions) {
    params.append("c", condition.field + ":" + condition.op + ":" + condition.value);
  }
  return params;
}

/* The body of POST /v0/logs/query, and which condition row each sent condition came from (rows with
 * an empty value are not sent), so that an error naming conditions[i] lands on the right row. */
export function requestBody(state, limit, now) {
  const body = {source: state.source, level: state.level, match: state.match, limit: limit, conditions: []};
  const rows = [];
  state.conditions.forEach(function (condition, index) {
    if (condition.value !== "") {
      body.conditions.push({field: condition.field, op: condition.op, value: condition.value});
      rows.push(index);
    }
  });
  if (state.range === "custom") {
    if (state.since) {
      body.since = state.since;
    }
    if (state.until) {
      body.until = state.until;
    }
  } else {
    body.since = new Date((now || Date.now()) - rangeSeconds(state.range) * 1000).toISOString();
  }
  return {body: body, rows: rows};
}

/* What a saved filter keeps: the level, AND/OR and the conditions. Not the source (one filter
 * serves every tab) nor a preset time range (the API stores instants, and "the last hour" saved as
 * instants would soon show nothing); a custom range is kept as its instants. */
export function savedQuery(state) {
  const query = {level: state.level, match: state.match,
                 conditions: state.conditions.filter(function (c) { return c.value !== ""; })};
  if (state.range === "custom") {
    query.since = state.since || null;
    query.until = state.until || null;
  }
  return query;
}

/* The current state with a saved filter's query applied: its level, match and conditions, and its
 * instants when it has any (else the current time range stays). */
export function fromSaved(query, current) {
  const saved = query || {};
  const state = Object.assign({}, current);
  state.level = LEVELS.includes(saved.level) ? saved.level : current.level;
  state.match = MATCHES.includes(saved.match) ? saved.match : "all";
  state.conditions = (Array.isArray(saved.conditions) ? saved.conditions : []).filter(function (c) {
    return c && FIELDS.includes(c.field) && OPS.includes(c.op) && typeof c.value === "string";
  }).map(function (c) { return {field: c.field, op: c.op, value: c.value}; });
  if (validInstant(saved.since)) {
    state.range = "custom";
    state.since = saved.since;
    state.until = validInstant(saved.until) ? saved.until : "";
  }
  return state;
}
