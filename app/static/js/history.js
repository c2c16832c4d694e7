/* The History page and a request's page.
 *
 * History (/requests): the server renders the rows and the filter form works without this script. On the
 * first page (no cursor), this polls GET /v0/requests with the page's filters and, when newer requests
 * exist, says how many (politely) and offers "Show new requests", which fetches this same page again and
 * swaps its rows in; nothing moves under the user's focus until they ask.
 *
 * A request's page: the error's Simple / Detailed radio group (CSS shows the chosen view; this script
 * remembers the choice in localStorage), and the Copy buttons of the bodies.
 */
import {apiFetch, fetchFragment, fill, pollEvery, pollInterval, readJson, say, uiStrings, writeClipboard} from "./ui.js";

const ERROR_VIEW_KEY = "llm-router.history.error-view";

function startNewRowsPoll(results) {
  const strings = uiStrings();
  const status = document.getElementById("new-requests-status");
  const button = document.getElementById("show-new-requests");
  let inFlight = false;
  let lastCount = 0;

  function sentence(count, more) {
    if (more) {
      return fill(strings.newOverflow, {num: count});
    }
    return fill(count === 1 ? strings.newOne : strings.newMany, {num: count});
  }

  async function check() {
    if (inFlight) {
      return;
    }
    inFlight = true;
    try {
      const response = await apiFetch(results.dataset.pollUrl, {cache: "no-store"});
      const data = response.ok ? await readJson(response) : null;
      if (!data || !Array.isArray(data.requests)) {
        return; // signed out, or the router did not answer: the next poll tries again
      }
      const newest = results.dataset.newestId;
      const index = data.requests.findIndex(function (row) { return row.id === newest; });
      const more = index < 0 && newest !== "" && data.next_cursor !== null;
      const count = index < 0 ? data.requests.length : index;
      if (count > 0 && count !== lastCount) {
        lastCount = count;
        say(status, sentence(count, more));
        button.hidden = false;
      }
    } catch (error) {
      // The router did not answer: keep the page as it is.
    } finally {
      inFlight = false;
    }
  }

  async function showNew() {
    try {
      const html = await fetchFragment(window.location.href);
      if (html === null) {
        return; // signed out: the page reloads
      }
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("request-results");
      if (!fresh) {
        throw new Error("no results on the page");
      }
      document.getElementById("request-rows").replaceWith(fresh.querySelector("#request-rows"));
      const head = results.querySelector(".result-count");
      const freshHead = fresh.querySelector(".result-count");
      if (head && freshHead) {
        head.replaceWith(freshHead);
      }
      results.dataset.newestId = fresh.dataset.newestId || "";
      lastCount = 0;
      button.hidden = true;
      // The button is gone: the table (or the empty state) takes the focus, and the news is said.
      const region = results.querySelector("#request-rows .table-wrap") || results;
      region.focus({preventScroll: false});
      say(status, strings.shown);
    } catch (error) {
      say(status, strings.showFailed);
    }
  }

  button.addEventListener("click", showNew);
  pollEvery(pollInterval(results), check);
}

function storedView() {
  try {
    return window.localStorage.getItem(ERROR_VIEW_KEY);
  } catch (error) {
    return null; // storage refused (privacy settings): the default view
  }
}

function setUpErrorView(group) {
  const saved = storedView();
  const chosen = group.querySelector('input[value="' + (saved === "detailed" ? "detailed" : "simple") + '"]');
  if (chosen) {
    chosen.checked = true;
  }
  group.addEventListener("change", function (event) {
    try {
      window.localStorage.setItem(ERROR_VIEW_KEY, event.target.value);
    } catch (error) {
      // not kept; the choice still applies to this page
    }
  });
}

function setUpCopyButtons() {
  const strings = uiStrings();
  const status = document.getElementById("copy-status");
  document.addEventListener("click", async function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    const source = document.getElementById(button.dataset.copy);
    if (await writeClipboard(source.textContent)) {
      say(status, strings.copied);
      return;
    }
    // No clipboard (not a secure context): select the text for the user to copy.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    source.focus();
    say(status, strings.copyFailed);
  });
}

const results = document.getElementById("request-results");
if (results && results.dataset.pollUrl) {
  startNewRowsPoll(results);
}
const errorView = document.getElementById("error-view");
if (errorView) {
  setUpErrorView(errorView);
}
if (document.getElementById("copy-status")) {
  setUpCopyButtons();
}
