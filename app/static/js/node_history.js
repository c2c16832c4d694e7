/* A node's history graphs (uPlot, vendored in static/vendor/) and the same figures as a table.
 *
 * Reads GET /v0/nodes/<id>/history?window=... (evenly spaced points, null where there were no
 * figures) at load, when the time range changes, and again as the range needs (refreshMs). Lines
 * differ by colour and by dash pattern, so they can be told apart without colour; the legend is drawn here because
 * uPlot's own is a live-value table that a screen reader would read at every mouse move. The
 * colours are the page's CSS variables (--chart-1 ... --chart-4), read again when the system
 * switches between light and dark.
 *
 * uPlot is a classic script, loaded (deferred) before this module, which runs after it: window.uPlot.
 */
import {apiError, apiFetch, fill, pollEvery, pollInterval, readJson, say, uiStrings} from "./ui.js";

function start(section) {
  const strings = uiStrings();
  const select = document.getElementById("history-window");
  const status = document.getElementById("history-status");
  const tableBody = document.querySelector("#history-table tbody");
  const lang = document.documentElement.lang || "en";
  const pollMs = pollInterval(section);
  const DASHES = [[], [8, 4], [2, 4], [12, 4, 2, 4]];
  const HEIGHT = 220;
  const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]; // whole requests on the axis
  const percentFormat = new Intl.NumberFormat(lang, {maximumFractionDigits: 1});
  const countFormat = new Intl.NumberFormat(lang, {maximumFractionDigits: 0});

  const CHARTS = [
    {id: "chart-usage", fields: ["cpu_percent", "memory_percent", "gpu_percent", "gpu_memory_percent"],
     labels: [strings.cpu, strings.memory, strings.gpu, strings.gpuMemory], percent: true},
    {id: "chart-requests", fields: ["active_requests"], labels: [strings.requests], percent: false},
  ];

  let points = [];
  let plots = [];
  let latestRequest = 0;
  let bucketSeconds = 0; // the span of one point, from the last answer

  function cssColor(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function timeFormat() {
    const long = select.value === "7d";
    return new Intl.DateTimeFormat(lang, long ? {month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit"}
                                              : {hour: "2-digit", minute: "2-digit"});
  }

  function legend(chart, colors) {
    const list = document.getElementById(chart.id + "-legend");
    list.replaceChildren(...chart.labels.map(function (label, index) {
      const item = document.createElement("li");
      item.className = "chart__key";
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("viewBox", "0 0 32 8");
      svg.setAttribute("width", "32");
      svg.setAttribute("height", "8");
      svg.setAttribute("aria-hidden", "true");
      const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      for (const [name, value] of Object.entries({x1: 0, y1: 4, x2: 32, y2: 4, stroke: colors[index],
                                                     "stroke-width": 2.5, "stroke-dasharray": DASHES[index].join(" ")})) {
        line.setAttribute(name, String(value));
      }
      svg.append(line);
      const text = document.createElement("span");
      text.textContent = label;
      item.append(svg, text);
      return item;
    }));
  }

  function chartData(chart) {
    const xs = points.map(function (point) { return Date.parse(point.at) / 1000; });
    return [xs].concat(chart.fields.map(function (field) {
      return points.map(function (point) { return point[field]; });
    }));
  }

  function build() {
    for (const plot of plots) {
      plot.destroy();
    }
    const colors = ["--chart-1", "--chart-2", "--chart-3", "--chart-4"].map(cssColor);
    const axisColor = cssColor("--text-muted");
    const gridColor = cssColor("--border");
    const format = timeFormat();
    plots = CHARTS.map(function (chart) {
      const target = document.getElementById(chart.id);
      target.replaceChildren();
      legend(chart, colors);
      const axis = {stroke: axisColor, grid: {stroke: gridColor, width: 1}, ticks: {stroke: gridColor, width: 1}};
      const options = {
        width: Math.max(240, target.clientWidth),
        height: HEIGHT,
        legend: {show: false},
        cursor: {show: false},
        scales: {x: {time: true},
                 y: {range: chart.percent ? [0, 100] : function (u, min, max) { return [0, Math.max(1, max || 0)]; }}},
        axes: [
          Object.assign({}, axis, {values: function (u, splits) {
            return splits.map(function (value) { return format.format(new Date(value * 1000)); });
          }}),
          Object.assign({}, axis, {size: 56, incrs: chart.percent ? undefined : COUNT_STEPS, values: function (u, splits) {
            return splits.map(function (value) {
              return chart.percent ? percentFormat.format(value) + "%" : countFormat.format(value);
            });
          }}),
        ],
        series: [{}].concat(chart.fields.map(function (field, index) {
          return {label: chart.labels[index], stroke: colors[index], width: 2, dash: DASHES[index], spanGaps: false,
                  points: {show: false}};
        })),
      };
      return new window.uPlot(options, chartData(chart), target);
    });
  }

  function cell(text, numeric) {
    const td = document.createElement("td");
    if (numeric) {
      td.className = "num";
    }
    td.textContent = text;
    return td;
  }

  function fillTable() {
    const format = new Intl.DateTimeFormat(lang, {month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
                                                  second: "2-digit"});
    const percent = function (value) { return value === null ? "—" : percentFormat.format(value) + "%"; };
    const rows = points.filter(function (point) { return point.online !== null; }).reverse().map(function (point) {
      const row = document.createElement("tr");
      const time = document.createElement("th");
      time.scope = "row";
      time.textContent = format.format(new Date(point.at));
      row.append(time, cell(point.online ? strings.online : strings.offline, false), cell(percent(point.cpu_percent), true),
                 cell(percent(point.memory_percent), true), cell(percent(point.gpu_percent), true),
                 cell(percent(point.gpu_memory_percent), true),
                 cell(point.active_requests === null ? "—" : countFormat.format(point.active_requests), true));
      return row;
    });
    if (rows.length === 0) {
      const row = document.createElement("tr");
      const empty = cell(strings.noFigures, false);
      empty.colSpan = 7;
      row.append(empty);
      rows.push(row);
    }
    tableBody.replaceChildren(...rows);
  }

  async function load(announce) {
    const request = ++latestRequest; // a slower, older answer never overwrites a newer one
    let message = "";
    try {
      const response = await apiFetch(section.dataset.historyUrl + "?window=" + encodeURIComponent(select.value),
                                      {cache: "no-store"});
      const body = await readJson(response);
      if (request !== latestRequest) {
        return;
      }
      if (!response.ok) {
        const problem = apiError(body);
        message = fill(strings.loadFailed, {message: (problem && problem.message) || response.status});
      } else {
        points = body.points;
        bucketSeconds = body.bucket_seconds;
        if (plots.length === 0) {
          build();
        } else {
          CHARTS.forEach(function (chart, index) { plots[index].setData(chartData(chart)); });
        }
        fillTable();
        if (!points.some(function (point) { return point.online !== null; })) {
          message = strings.noFigures;
        }
      }
    } catch (error) {
      message = strings.networkError;
    }
    if (announce || status.textContent !== message) {
      say(status, message);
    }
  }

  // The last hour follows the page's poll interval; a longer range changes only once a point's span
  // has passed (90 s to 42 min), and reading its samples costs the router far more: at most every 5 min.
  function refreshMs() {
    return select.value === "1h" ? pollMs : Math.max(pollMs, Math.min(bucketSeconds * 1000, 300000));
  }
  const poller = pollEvery(refreshMs, function () { return load(false); });
  select.addEventListener("change", function () {
    build(); // the time axis labels change with the range
    poller.now(function () { return load(true); });
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", build);
  new ResizeObserver(function () {
    CHARTS.forEach(function (chart, index) {
      const target = document.getElementById(chart.id);
      if (plots[index] && target.clientWidth > 0) {
        plots[index].setSize({width: Math.max(240, target.clientWidth), height: HEIGHT});
      }
    });
  }).observe(section);
  poller.now();
}

const historySection = document.getElementById("node-history");
if (historySection && typeof window.uPlot === "function") {
  start(historySection);
}
