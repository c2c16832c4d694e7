/* A node's page: its newest log lines (level info and above), read through POST /v0/logs/query with
 * the node as the source, and read again every poll interval. An offline node's 503 is shown as its
 * sentence; the link beside the title opens the full Logs page on this node's tab.
 */
import {apiFetch, fill, pollEvery, pollInterval, readError, readJson} from "../ui.js";
import {lineKey, lineRow, timeFormatter} from "./lines.js";

const LIMIT = 20;

function start(section) {
  const strings = JSON.parse(section.dataset.strings);
  const status = document.getElementById("node-logs-status");
  const body = document.querySelector("#node-logs-table tbody");
  const options = {format: timeFormatter(document.documentElement.lang || "en"), levels: strings.levels,
                   requestLink: null};
  let last = "";

  function setStatus(text) {
    if (status.textContent !== text) { // the same sentence again is not announced again
      status.textContent = text;
    }
  }

  async function refresh() {
    let response;
    try {
      response = await apiFetch(section.dataset.apiBase + "/logs/query", {
        method: "POST", json: {source: section.dataset.nodeId, level: "info", limit: LIMIT}});
    } catch (error) {
      setStatus(strings.networkError);
      return;
    }
    if (!response.ok) {
      setStatus(fill(strings.failed, {message: (await readError(response, String(response.status))).message}));
      return;
    }
    const data = await readJson(response);
    const lines = (data && data.lines) || [];
    const key = lines.map(lineKey).join("\n");
    if (key !== last) {
      last = key;
      body.replaceChildren(...lines.map(function (line) { return lineRow(line, options); }));
    }
    setStatus(lines.length ? fill(strings.count, {num: lines.length}) : strings.none);
  }

  refresh();
  pollEvery(pollInterval(section), refresh);
}

const section = document.getElementById("node-logs");
if (section) {
  start(section);
}
