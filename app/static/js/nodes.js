/* The Nodes page and a node's own page: refresh by polling, say when a node goes offline or comes
 * back, and (Nodes page, admins) confirm removing a node.
 *
 * The server renders the part that changes (a Jinja partial for the page and for its fragment URL,
 * in the element marked data-node-fragment); this script only swaps that HTML in, keeping keyboard
 * focus where it was, and compares each node's data-online before and after to show a notice (a
 * toast from ui.js, in the layout's toast region, that stays until dismissed). These pages tell of
 * their own nodes going offline sooner and with the way back ("online again"), so they claim the
 * node_offline alerts of the nodes they show (ui.js ownAlerts): the shared alert poller (alerts.js)
 * shows no second toast for the same event. Removing is a plain form POST from the dialog; the
 * script only points the form at the chosen node.
 */
import {fetchFragment, fill, findByKey, focusKey, ownAlerts, pollEvery, pollInterval, swapKeepingFocus, toast,
  uiStrings} from "./ui.js";

function start(list) {
  const strings = uiStrings();
  const dialog = document.getElementById("remove-node-dialog");

  let lastHtml = list.innerHTML;
  let inFlight = false;
  let opener = null; // the Remove button that opened the dialog

  function onlineByNode() {
    const states = new Map();
    for (const row of list.querySelectorAll("[data-node-id][data-online]")) {
      states.set(row.dataset.nodeId, {name: row.dataset.nodeName, online: row.dataset.online === "true"});
    }
    return states;
  }

  ownAlerts(function (alert) {
    return alert.kind === "node_offline" && onlineByNode().has(alert.details && alert.details.node_id);
  });

  function reportChanges(before, after) {
    for (const [id, now] of after) {
      const earlier = before.get(id);
      if (earlier && earlier.online !== now.online) {
        toast(fill(now.online ? strings.cameOnline : strings.wentOffline, {name: now.name}),
              {tone: now.online ? "success" : "danger"});
      }
    }
  }

  function swap(html) {
    const before = onlineByNode();
    swapKeepingFocus(list, html);
    reportChanges(before, onlineByNode());
  }

  async function refresh() {
    if (inFlight || (dialog && dialog.open)) {
      return; // an open dialog is never pulled from under the user; the next poll catches up
    }
    inFlight = true;
    try {
      const html = await fetchFragment(list.dataset.fragmentUrl); // null: signed out, the page reloads
      if (html !== null && html !== lastHtml && !(dialog && dialog.open)) {
        swap(html);
        lastHtml = html;
      }
    } catch (error) {
      // The router did not answer (or answered with an error): keep the table as it is; the next poll tries again.
    } finally {
      inFlight = false;
    }
  }

  pollEvery(pollInterval(list), refresh);

  if (!dialog) {
    return; // viewers: no Remove buttons
  }
  const form = document.getElementById("remove-node-form");
  const title = document.getElementById("remove-node-dialog-title");

  list.addEventListener("click", function (event) {
    const button = event.target.closest("[data-remove-node]");
    if (!button) {
      return;
    }
    opener = focusKey(button);
    form.action = button.dataset.removeNode;
    title.textContent = fill(strings.removeTitle, {name: button.dataset.nodeName});
    dialog.showModal();
  });
  dialog.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-dialog]")) {
      dialog.close();
    }
  });
  dialog.addEventListener("close", function () {
    (findByKey(opener) || list).focus();
    refresh();
  });
}

const fragment = document.querySelector("[data-node-fragment]");
if (fragment) {
  start(fragment);
}
