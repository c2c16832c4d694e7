/* The alert poller of every dashboard page (base.html loads it wherever the user may view): every poll
 * interval it asks GET /v0/alerts?after=<the last id seen> and shows each new alert as a toast (ui.js),
 * which stays until dismissed and is read out by the toast region (a polite live region).
 *
 * The last id seen is kept in sessionStorage, so going to another page does not show the same alerts
 * again; a tab's first page starts from the newest alert without showing the ones before it (they are
 * on the overview). sessionStorage, not localStorage: a browser opened tomorrow would otherwise replay
 * a day of alerts. Alerts a page tells of itself are skipped (ui.js ownAlerts: the Nodes pages toast
 * their own nodes going offline and coming back).
 */
import {apiFetch, isOwnedAlert, pollEvery, pollInterval, readJson, toast} from "./ui.js";

const STORAGE_KEY = "llm-router.alerts.last-seen";
const BATCH = 50;

function readStored() {
  try {
    const value = parseInt(window.sessionStorage.getItem(STORAGE_KEY), 10);
    return Number.isInteger(value) && value >= 0 ? value : null;
  } catch (error) {
    return null; // storage refused (privacy settings): start from the newest, as a new tab does
  }
}

function store(id) {
  try {
    window.sessionStorage.setItem(STORAGE_KEY, String(id));
  } catch (error) {
    // Not kept: the next page starts from the newest alert again, which shows nothing twice either.
  }
}

function start(region) {
  let lastSeen = readStored();

  /* The alerts the query asks for, newest first; null when the router did not answer with them. */
  async function fetchAlerts(query) {
    const response = await apiFetch(region.dataset.alertsUrl + "?" + query, {cache: "no-store"});
    if (!response.ok) {
      return null;
    }
    const data = await readJson(response);
    return data && Array.isArray(data.alerts) ? data.alerts : null;
  }

  async function check() {
    try {
      if (lastSeen === null) {
        const newest = await fetchAlerts("limit=1");
        if (newest !== null) {
          lastSeen = newest.length ? newest[0].id : 0;
          store(lastSeen);
        }
        return;
      }
      const fresh = await fetchAlerts("after=" + lastSeen + "&limit=" + BATCH);
      if (!fresh || !fresh.length) {
        return;
      }
      lastSeen = Math.max(lastSeen, ...fresh.map(function (alert) { return alert.id; }));
      store(lastSeen);
      for (const alert of fresh.slice().reverse()) { // oldest first, so the newest ends up at the bottom
        if (!isOwnedAlert(alert)) {
          toast(alert.message, {tone: "danger"}).dataset.alertId = String(alert.id);
        }
      }
    } catch (error) {
      // The router did not answer: the next poll asks again, from the same id.
    }
  }

  pollEvery(pollInterval(region), check).now();
}

const region = document.getElementById("toasts");
if (region && region.dataset.alertsUrl) {
  start(region);
}
