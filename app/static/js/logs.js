/* The Logs page: reads the query from the address, sends it to POST /v0/logs/query, shows the lines
 * newest first, pages back by cursor ("Load more"), and in follow mode asks again every poll interval
 * for lines newer than the newest shown and adds them at the top. Submitting the filter puts it in the
 * address (a link shows the same lines) and in the tabs' links (a filter carries across sources).
 * Results and errors are announced; an error about one condition is shown on that condition's value.
 */
import {announce, apiFetch, fill, pollEvery, pollInterval, readError, readJson, say, uiStrings} from "./ui.js";
import {conditionsEditor} from "./logs/conditions.js";
import {savedFilters} from "./logs/filters.js";
import {lineKey, lineRow, timeFormatter} from "./logs/lines.js";
import {fromParams, fromSaved, requestBody, savedQuery, toParams} from "./logs/query.js";

/* <input type="datetime-local"> works in local time without a zone; the query carries instants. */
function toLocalInput(iso) {
  if (!iso) {
    return "";
  }
  const date = new Date(iso);
  const pad = function (n) { return String(n).padStart(2, "0"); };
  return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" + pad(date.getHours())
    + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
}

function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : "";
}

function start(root) {
  const strings = uiStrings();
  const apiBase = root.dataset.apiBase;
  const pageSize = parseInt(root.dataset.pageSize, 10) || 200;
  const defaults = {source: root.dataset.source, level: root.dataset.defaultLevel, range: root.dataset.defaultRange};
  const form = document.getElementById("log-query");
  const level = document.getElementById("log-level");
  const range = document.getElementById("log-range");
  const custom = document.getElementById("log-custom-range");
  const since = document.getElementById("log-since");
  const until = document.getElementById("log-until");
  const rangeError = document.getElementById("log-range-error");
  const status = document.getElementById("logs-status");
  const errorBox = document.getElementById("logs-error");
  const tableWrap = document.getElementById("logs-table-wrap");
  const body = document.querySelector("#logs-table tbody");
  const loadMore = document.getElementById("load-more");
  const follow = document.getElementById("follow");
  const who = document.getElementById("signed-in-user");
  const lineOptions = {format: timeFormatter(document.documentElement.lang || "en"), levels: strings.levels,
                       requestLink: root.dataset.requestLink, requestLabel: strings.openRequest};
  const editor = conditionsEditor({list: document.getElementById("conditions"),
                                   template: document.getElementById("condition-template"),
                                   addButton: document.getElementById("add-condition"),
                                   empty: document.getElementById("conditions-empty"), strings: strings});

  let state = fromParams(new URLSearchParams(window.location.search), defaults);
  state.source = defaults.source; // the server settled the tab (a removed node's link shows the router)
  let sent = null;       // {body, rows} of the query whose lines are shown
  let cursor = null;
  let shown = [];        // the lines in the table, newest first
  let generation = 0;    // answers to an older query are dropped
  let following = false;

  function fillForm(next) {
    level.value = next.level;
    range.value = next.range;
    custom.hidden = next.range !== "custom";
    since.value = toLocalInput(next.since);
    until.value = toLocalInput(next.until);
    form.querySelector('input[name="match"][value="' + next.match + '"]').checked = true;
    editor.set(next.conditions);
  }

  function readForm() {
    return {source: state.source, level: level.value, range: range.value,
            since: range.value === "custom" ? fromLocalInput(since.value) : "",
            until: range.value === "custom" ? fromLocalInput(until.value) : "",
            match: form.querySelector('input[name="match"]:checked').value, conditions: editor.read()};
  }

  function setRangeError(message, field) {
    rangeError.textContent = message || "";
    for (const input of [since, until]) {
      if (message && input === field) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", "log-range-hint " + rangeError.id);
      } else {
        input.removeAttribute("aria-invalid");
        input.setAttribute("aria-describedby", "log-range-hint");
      }
    }
  }

  /* The tabs keep the filter: each links to its source with the current query. */
  function updateLinks() {
    const query = toParams(state, false);
    for (const tab of document.querySelectorAll("#log-sources [data-source]")) {
      const params = new URLSearchParams(query);
      params.set("source", tab.dataset.source);
      tab.href = window.location.pathname + "?" + params.toString() + "";
    }
  }

  function clearErrors() {
    errorBox.textContent = "";
    editor.clearErrors();
    setRangeError("");
  }

  /* A refused query: on the condition or time field it names, else above the table. */
  function showProblem(problem, rows) {
    const found = /^conditions\[(\d+)\]/.exec(problem.param || "");
    if (found && rows[parseInt(found[1], 10)] !== undefined) {
      const field = editor.showError(rows[parseInt(found[1], 10)], problem.message);
      if (field) {
        field.focus();
        return;
      }
    }
    if (problem.param === "since" || problem.param === "until") {
      range.value = "custom";
      custom.hidden = false;
      const field = problem.param === "since" ? since : until;
      setRangeError(problem.message, field);
      field.focus();
      return;
    }
    errorBox.textContent = fill(strings.queryFailed, {message: problem.message});
  }

  function countSentence() {
    if (shown.length === 0) {
      return strings.noLines;
    }
    if (cursor) {
      return fill(strings.showingMore, {num: shown.length});
    }
    return shown.length === 1 ? strings.showingOne : fill(strings.showing, {num: shown.length});
  }

  async function post(queryBody) {
    const response = await apiFetch(apiBase + "/logs/query", {method: "POST", json: queryBody});
    if (!response.ok) {
      return {problem: await readError(response, String(response.status))};
    }
    return {data: (await readJson(response)) || {lines: [], next_cursor: null}};
  }

  /* Runs the current state's query from the start; replaces the table. */
  async function run() {
    const mine = ++generation;
    clearErrors();
    sent = requestBody(state, pageSize);
    status.textContent = strings.loading;
    loadMore.hidden = true;
    let answer;
    try {
      answer = await post(sent.body);
    } catch (error) {
      answer = {problem: {message: strings.networkError}};
    }
    if (mine !== generation) {
      return;
    }
    if (answer.problem) {
      shown = [];
      cursor = null;
      body.replaceChildren();
      status.textContent = "";
      showProblem(answer.problem, sent.rows);
      return;
    }
    shown = answer.data.lines || [];
    cursor = answer.data.next_cursor || null;
    body.replaceChildren(...shown.map(function (line) { return lineRow(line, lineOptions); }));
    loadMore.hidden = !cursor;
    say(status, countSentence());
  }

  async function more() {
    if (!cursor || !sent) {
      return;
    }
    const mine = generation;
    loadMore.disabled = true;
    let answer;
    try {
      answer = await post(Object.assign({}, sent.body, {cursor: cursor}));
    } catch (error) {
      answer = {problem: {message: strings.networkError}};
    }
    loadMore.disabled = false;
    if (mine !== generation) {
      return;
    }
    if (answer.problem) {
      errorBox.textContent = fill(strings.queryFailed, {message: answer.problem.message});
      return;
    }
    const lines = answer.data.lines || [];
    shown = shown.concat(lines);
    cursor = answer.data.next_cursor || null;
    body.append(...lines.map(function (line) { return lineRow(line, lineOptions); }));
    loadMore.hidden = !cursor;
    if (!cursor) {
      tableWrap.focus(); // the button is gone: the focus stays near what it loaded
    }
    say(status, fill(strings.loadedMore, {num: lines.length, total: shown.length}));
  }

  /* Follow mode: lines at or after the newest shown (the same filter), without those already shown. */
  async function poll() {
    if (!following || !sent) {
      return;
    }
    const mine = generation;
    const newest = shown.length ? shown[0].at : null;
    const queryBody = Object.assign({}, requestBody(state, pageSize).body);
    if (newest && (!queryBody.since || Date.parse(newest) >= Date.parse(queryBody.since))) {
      queryBody.since = newest;
    }
    let answer;
    try {
      answer = await post(queryBody);
    } catch (error) {
      return; // the next poll tries again
    }
    if (mine !== generation || !following) {
      return;
    }
    if (answer.problem) {
      errorBox.textContent = fill(strings.queryFailed, {message: answer.problem.message});
      return;
    }
    errorBox.textContent = "";
    const seen = new Set(shown.filter(function (line) { return line.at === newest; }).map(lineKey));
    const fresh = (answer.data.lines || []).filter(function (line) {
      return !seen.has(lineKey(line)) && (!newest || line.at >= newest);
    });
    if (fresh.length === 0) {
      return;
    }
    if (answer.data.next_cursor) { // more new lines than a page: start again from the newest
      await run();
      announce(countSentence());
      return;
    }
    shown = fresh.concat(shown);
    body.prepend(...fresh.map(function (line) { return lineRow(line, lineOptions); }));
    say(status, fresh.length === 1 ? strings.newLine : fill(strings.newLines, {num: fresh.length}));
  }

  function submit(push) {
    const next = readForm();
    if (next.range === "custom") {
      if (!next.since) {
        setRangeError(strings.sinceRequired, since);
        since.focus();
        return;
      }
      if (next.until && Date.parse(next.until) < Date.parse(next.since)) {
        setRangeError(strings.rangeOrder, until);
        until.focus();
        return;
      }
    }
    state = next;
    const url = window.location.pathname + "?" + toParams(state).toString();
    if (push) {
      window.history.pushState(null, "", url);
    } else {
      window.history.replaceState(null, "", url);
    }
    updateLinks();
    run();
  }

  range.addEventListener("change", function () {
    custom.hidden = range.value !== "custom";
    if (range.value === "custom" && !since.value) {
      const seconds = parseInt((range.querySelector('option[value="' + state.range + '"]') || {dataset: {}})
                               .dataset.seconds, 10) || 3600;
      since.value = toLocalInput(new Date(Date.now() - seconds * 1000).toISOString());
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit(true);
  });

  document.getElementById("reset-query").addEventListener("click", function () {
    fillForm(fromParams(new URLSearchParams(), defaults));
    submit(true);
    level.focus();
  });

  window.addEventListener("popstate", function () {
    state = fromParams(new URLSearchParams(window.location.search), defaults);
    state.source = defaults.source;
    fillForm(state);
    updateLinks();
    run();
  });

  loadMore.addEventListener("click", more);

  const poller = pollEvery(pollInterval(root), poll);
  follow.addEventListener("click", function () {
    following = !following;
    follow.setAttribute("aria-pressed", String(following));
    announce(following ? fill(strings.following, {seconds: pollInterval(root) / 1000}) : strings.stoppedFollowing);
    if (following) {
      poller.now();
    }
  });

  savedFilters({
    apiBase: apiBase,
    strings: strings,
    username: who ? who.textContent.trim() : "",
    current: function () { return savedQuery(readForm()); },
    apply: function (query) {
      fillForm(fromSaved(query, readForm()));
      submit(true);
    },
  });

  fillForm(state);
  window.history.replaceState(null, "", window.location.pathname + "?" + toParams(state).toString());
  updateLinks();
  run();
}

const root = document.getElementById("logs");
if (root) {
  start(root);
}
