/* The Costs page: draws the cost of each period as bars (uPlot, vendored in static/vendor/) and refreshes
 * the page's changing part every poll interval.
 *
 * The server renders that part (dashboard/_costs_live.html, in #costs-live; its fragment URL is
 * data-fragment-url): totals, the unpriced note, the chart's numbers (#costs-chart-data) and the tables,
 * with every number written as the server writes it. This script only swaps the new HTML in, keeping the
 * keyboard focus where it was, and draws the chart again from the numbers that came with it, so the chart
 * and its table always agree. The x axis is the period's own labels (2026-12-03, 2026-W49, 2026-12), in the
 * configured time zone as the server made them; the browser's time zone plays no part. A period whose
 * requests were all unpriced has no bar (its cost is unknown, not 0); the table says so.
 *
 * uPlot is a classic script, loaded (deferred) before this module, which runs after it: window.uPlot.
 */
import {fetchFragment, fill, pollEvery, pollInterval, say, swapKeepingFocus, uiStrings} from "./ui.js";

const HEIGHT = 220;
const LABEL_STEPS = [1, 2, 3, 4, 6, 7, 12, 14, 28, 30, 60, 90, 180, 365]; // bars between two labels

function start(root) {
  const strings = uiStrings();
  const live = document.getElementById("costs-live");
  const status = document.getElementById("costs-status");
  const lang = document.documentElement.lang || "en";
  const dollars = new Intl.NumberFormat(lang, {style: "currency", currency: "USD", minimumFractionDigits: 2,
                                               maximumFractionDigits: 6});
  let plot = null;
  let lastHtml = null; // the fragment last swapped in (the rendered one differs: uPlot draws into it)
  let inFlight = false;

  function cssColor(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function chartData() {
    const element = document.getElementById("costs-chart-data");
    return element ? JSON.parse(element.textContent) : {labels: [], costs: []};
  }

  /* A period's label on the x axis, without the year where it is not the month's: "12-03", "W49", "2026-12". */
  function short(label) {
    return label.length === 7 && label.charAt(4) === "-" && label.charAt(5) !== "W" ? label : label.slice(5);
  }

  /* The axis of costs, in dollars as the tables write them ("$0.0123"). */
  function axisValues(u, splits) {
    return splits.map(function (value) { return dollars.format(value); });
  }

  function draw() {
    const target = document.getElementById("costs-chart");
    if (plot) {
      plot.destroy();
      plot = null;
    }
    if (!target) {
      return;
    }
    target.replaceChildren();
    const data = chartData();
    const labels = data.labels;
    const color = cssColor("--chart-1");
    const axisColor = cssColor("--text-muted");
    const gridColor = cssColor("--border");
    const axis = {stroke: axisColor, grid: {stroke: gridColor, width: 1}, ticks: {stroke: gridColor, width: 1},
                  font: "12px system-ui, sans-serif"};
    const xs = labels.map(function (label, index) { return index; });
    const options = {
      width: Math.max(240, target.clientWidth),
      height: HEIGHT,
      legend: {show: false},
      cursor: {show: false},
      scales: {
        x: {time: false, range: function () { return [-0.5, Math.max(0.5, labels.length - 0.5)]; }},
        y: {range: function (u, min, max) { return [0, Math.max(0.01, (max || 0) * 1.1)]; }},
      },
      axes: [
        Object.assign({}, axis, {incrs: LABEL_STEPS, space: 64, values: function (u, splits) {
          return splits.map(function (value) {
            return Number.isInteger(value) && labels[value] !== undefined ? short(labels[value]) : "";
          });
        }}),
        Object.assign({}, axis, {size: 90, values: axisValues}),
      ],
      series: [{}, {stroke: color, fill: color, width: 1, spanGaps: false, points: {show: false},
                    paths: window.uPlot.paths.bars({size: [0.7, 48], align: 0})}],
    };
    plot = new window.uPlot(options, [xs, data.costs], target);
  }

  async function refresh() {
    if (inFlight) {
      return;
    }
    inFlight = true;
    let message = "";
    try {
      const html = await fetchFragment(live.dataset.fragmentUrl); // null: signed out, the page reloads
      if (html !== null && html !== lastHtml) {
        lastHtml = html;
        swapKeepingFocus(live, html);
        draw();
      }
    } catch (error) {
      message = error instanceof TypeError ? strings.networkError : fill(strings.loadFailed, {message: error.message});
    } finally {
      inFlight = false;
    }
    if (status.textContent !== message) {
      say(status, message);
    }
  }

  draw();
  pollEvery(pollInterval(root), refresh);
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
  new ResizeObserver(function () {
    const target = document.getElementById("costs-chart");
    if (plot && target && target.clientWidth > 0 && Math.abs(plot.width - target.clientWidth) > 1) {
      plot.setSize({width: Math.max(240, target.clientWidth), height: HEIGHT});
    }
  }).observe(live);
}

const costsRoot = document.getElementById("costs");
if (costsRoot && typeof window.uPlot === "function") {
  start(costsRoot);
}
