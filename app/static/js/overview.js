/* The Overview: draws each figure's graph (uPlot, vendored in static/vendor/) and refreshes the page's
 * figures, trends, graphs and tables from GET /v0/overview every poll interval, in place, so the
 * keyboard focus stays where it was. Also lists the active alerts (GET /v0/alerts?active=1).
 *
 * The page is rendered with its figures (app/dashboard/overview.py); the same answer is embedded in
 * #overview-data, so the graphs are drawn at once. Numbers are written as the server writes them
 * ("1,234", "2.5%", "830 ms"); every time on the page is in UTC. A gap in a line is a bucket without
 * requests (null); a value alone between gaps is drawn as a dot, else it would not show at all.
 * Lines differ by colour and by dash (the legend, rendered by the page, shows both); the colours are the
 * page's CSS variables, read again when the system switches between light and dark.
 *
 * uPlot is a classic script, loaded (deferred) before this module, which runs after it: window.uPlot.
 */
import {apiError, apiFetch, fill, pollEvery, pollInterval, readJson, say, uiStrings} from "./ui.js";

const DASHES = [[], [8, 4], [2, 4], [12, 4, 2, 4]];
const HEIGHT = 160;
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
const UP_IS_GOOD = new Set(["tokens_per_second"]);
const UP_IS_BAD = new Set(["errors", "refused", "error_rate", "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms"]);
const FORMATS = {requests: "count", errors: "count", client_errors: "count", refused: "count", error_rate: "percent",
                 latency_p50_ms: "ms", latency_p95_ms: "ms", ttft_p50_ms: "ms", tokens_per_second: "rate",
                 prompt_tokens: "count", completion_tokens: "count"};

function start(root) {
  const strings = uiStrings();
  const lang = document.documentElement.lang || "en";
  const status = document.getElementById("overview-status");
  const counts = new Intl.NumberFormat(lang, {maximumFractionDigits: 0});
  const decimals = new Intl.NumberFormat(lang, {maximumFractionDigits: 1});
  const percents = new Intl.NumberFormat(lang, {style: "percent", maximumFractionDigits: 1});
  const changes = new Intl.NumberFormat(lang, {style: "percent", maximumFractionDigits: 1, signDisplay: "exceptZero"});
  const axisTime = new Intl.DateTimeFormat(lang, root.dataset.window === "7d"
    ? {timeZone: "UTC", month: "numeric", day: "numeric"}
    : {timeZone: "UTC", hour: "2-digit", minute: "2-digit", hourCycle: "h23"});
  const charts = Array.from(root.querySelectorAll("[data-chart]"));
  let data = JSON.parse(document.getElementById("overview-data").textContent);
  let plots = [];
  let latestRequest = 0;

  /* "2026-12-03 14:05 UTC", as the server writes every time (filter `moment`). */
  function moment(iso) {
    return new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function figure(kind, value) {
    if (value === null || value === undefined) {
      return "—";
    }
    if (kind === "count") {
      return counts.format(value);
    }
    if (kind === "percent") {
      return percents.format(value);
    }
    return fill(kind === "ms" ? strings.ms : strings.perSecond, {value: decimals.format(value)});
  }

  function change(relative) {
    if (relative === null || relative === undefined) {
      return "—";
    }
    return relative === 0 ? strings.noChange : changes.format(relative);
  }

  /* The same rules as overview.trend() on the server. */
  function trend(key, current, relative) {
    if (current === null || (key === "requests" && !current)) {
      return {direction: "none", judgement: "neutral", text: strings.noRequests, verdict: ""};
    }
    if (relative === null) {
      return {direction: "none", judgement: "neutral", text: strings.trendNone, verdict: ""};
    }
    if (relative === 0) {
      return {direction: "flat", judgement: "neutral", text: strings.trendFlat, verdict: ""};
    }
    const up = relative > 0;
    let judgement = "neutral";
    if (UP_IS_GOOD.has(key) || UP_IS_BAD.has(key)) {
      judgement = up === UP_IS_GOOD.has(key) ? "good" : "bad";
    }
    return {direction: up ? "up" : "down", judgement: judgement,
            text: fill(strings.trendChange, {change: change(relative)}),
            verdict: judgement === "good" ? strings.better : judgement === "bad" ? strings.worse : ""};
  }

  function setText(element, value) {
    if (element.textContent !== value) {
      element.textContent = value;
    }
  }

  function cell(tag, value) {
    const element = document.createElement(tag);
    element.textContent = value;
    if (tag === "td") {
      element.className = "num";
    }
    return element;
  }

  function renderFigures() {
    for (const element of root.querySelectorAll("[data-figure]")) {
      const key = element.dataset.figure;
      const source = element.dataset.period === "previous" ? data.previous : data.totals;
      setText(element, figure(FORMATS[key], source[key]));
    }
    for (const element of root.querySelectorAll("[data-change]")) {
      setText(element, change(data.trend[element.dataset.change]));
    }
    for (const element of root.querySelectorAll("[data-trend]")) {
      const key = element.dataset.trend;
      const view = trend(key, data.totals[key], data.trend[key]);
      element.className = "trend trend--" + view.judgement;
      element.dataset.direction = view.direction;
      setText(element.querySelector(".trend__text"), view.text);
      const verdict = element.querySelector(".trend__verdict");
      setText(verdict, view.verdict);
      verdict.hidden = !view.verdict;
    }
    for (const element of root.querySelectorAll("[data-fleet]")) {
      const value = data.fleet[element.dataset.fleet];
      setText(element, counts.format(value));
      const card = element.closest("[data-attention]");
      if (card) {
        card.dataset.attention = value ? "true" : "false";
      }
    }
    setText(document.getElementById("overview-range"),
            fill(strings.range, {start: moment(data.start), end: moment(data.end)}));
  }

  /* The per-bucket table, newest first: counts as counts, the request figures as the cards write them. */
  function renderBuckets() {
    const table = document.getElementById("overview-buckets-table");
    const columns = table.dataset.columns.split(" ");
    const series = data.series;
    const rows = series.at.map(function (at, index) {
      const row = document.createElement("tr");
      const head = cell("th", "");
      head.scope = "row";
      const time = document.createElement("time");
      time.dateTime = at;
      time.textContent = moment(at);
      head.append(time);
      row.append(head, ...columns.map(function (key) {
        return cell("td", figure(FORMATS[key] || "count", series[key][index]));
      }));
      return row;
    }).reverse();
    table.tBodies[0].replaceChildren(...rows);
  }

  function cssColor(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function fields(target) {
    return target.dataset.fields.split(" ");
  }

  function chartData(target) {
    const xs = data.series.at.map(function (at) { return Date.parse(at) / 1000; });
    return [xs].concat(fields(target).map(function (field) { return data.series[field]; }));
  }

  /* The indices of values with no neighbour: a line needs two points, so these are drawn as dots. */
  function alone(u, seriesIndex) {
    const values = u.data[seriesIndex];
    const found = [];
    for (let i = 0; i < values.length; i++) {
      const before = i > 0 ? values[i - 1] : null;
      const after = i < values.length - 1 ? values[i + 1] : null;
      if (values[i] !== null && values[i] !== undefined && before === null && after === null) {
        found.push(i);
      }
    }
    return found.length ? found : null;
  }

  function axisValue(kind, value) {
    if (kind === "percent") {
      return percents.format(value);
    }
    return kind === "count" ? counts.format(value) : decimals.format(value);
  }

  function build() {
    for (const plot of plots) {
      plot.destroy();
    }
    const colors = ["--chart-1", "--chart-2", "--chart-3", "--chart-4"].map(cssColor);
    const axisColor = cssColor("--text-muted");
    const gridColor = cssColor("--border");
    const axis = {stroke: axisColor, grid: {stroke: gridColor, width: 1}, ticks: {stroke: gridColor, width: 1},
                  font: "12px system-ui, sans-serif"};
    plots = charts.map(function (target) {
      target.replaceChildren();
      const kind = target.dataset.kind;
      const options = {
        width: Math.max(200, target.clientWidth),
        height: HEIGHT,
        legend: {show: false},
        cursor: {show: false},
        tzDate: function (seconds) { return window.uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"); },
        scales: {x: {time: true},
                 y: {range: function (u, min, max) {
                   return [0, Math.max(kind === "percent" ? 0.01 : 1, max || 0)];
                 }}},
        axes: [
          Object.assign({}, axis, {values: function (u, splits) {
            return splits.map(function (value) { return axisTime.format(new Date(value * 1000)); });
          }}),
          Object.assign({}, axis, {size: 60, incrs: kind === "count" ? COUNT_STEPS : undefined,
                                   values: function (u, splits) {
                                     return splits.map(function (value) { return axisValue(kind, value); });
                                   }}),
        ],
        series: [{}].concat(fields(target).map(function (field, index) {
          return {stroke: colors[index], width: 2, dash: DASHES[index], spanGaps: false,
                  points: {show: false, filter: alone, size: 6, stroke: colors[index], fill: colors[index]}};
        })),
      };
      return new window.uPlot(options, chartData(target), target);
    });
  }

  function render() {
    renderFigures();
    renderBuckets();
    plots.forEach(function (plot, index) { plot.setData(chartData(charts[index])); });
  }

  async function loadFigures() {
    const request = ++latestRequest; // a slower, older answer never overwrites a newer one
    let message = "";
    try {
      const response = await apiFetch(root.dataset.overviewUrl + "?window=" + encodeURIComponent(root.dataset.window),
                                      {cache: "no-store"});
      const body = await readJson(response);
      if (request !== latestRequest) {
        return;
      }
      if (response.ok && body) {
        data = body;
        render();
      } else {
        const problem = apiError(body);
        message = fill(strings.loadFailed, {message: (problem && problem.message) || response.status});
      }
    } catch (error) {
      message = strings.networkError;
    }
    if (status.textContent !== message) {
      say(status, message);
    }
  }

  /* The active alerts, newest first. The list stays hidden while GET /v0/alerts cannot be read. */
  async function loadAlerts() {
    const section = document.getElementById("overview-alerts");
    let alerts;
    try {
      const response = await apiFetch(root.dataset.alertsUrl, {cache: "no-store"});
      const body = await readJson(response);
      if (!response.ok || !body || !Array.isArray(body.alerts)) {
        return;
      }
      alerts = body.alerts;
    } catch (error) {
      return;
    }
    const items = alerts.map(function (alert) {
      const item = document.createElement("li");
      item.className = "alert-item";
      item.dataset.kind = alert.kind;
      const message = document.createElement("p");
      message.className = "alert-item__message";
      message.textContent = alert.message;
      const meta = document.createElement("p");
      meta.className = "alert-item__meta";
      const parts = [strings.alertKinds[alert.kind] || alert.kind];
      if (alert.subject) {
        parts.push(alert.subject);
      }
      const time = document.createElement("time");
      time.dateTime = alert.raised_at;
      time.textContent = fill(strings.since, {moment: moment(alert.raised_at)});
      meta.append(parts.join(" · ") + " · ", time);
      item.append(message, meta);
      return item;
    });
    document.getElementById("alert-list").replaceChildren(...items);
    document.getElementById("alerts-empty").hidden = items.length > 0;
    section.hidden = false;
  }

  build();
  render();
  pollEvery(pollInterval(root), function () {
    return Promise.all([loadFigures(), loadAlerts()]);
  });
  loadAlerts();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", build);
  new ResizeObserver(function () {
    charts.forEach(function (target, index) {
      if (plots[index] && target.clientWidth > 0 && Math.abs(plots[index].width - target.clientWidth) > 1) {
        plots[index].setSize({width: Math.max(200, target.clientWidth), height: HEIGHT});
      }
    });
  }).observe(root);
}

const overviewRoot = document.getElementById("overview");
if (overviewRoot && typeof window.uPlot === "function") {
  start(overviewRoot);
}
