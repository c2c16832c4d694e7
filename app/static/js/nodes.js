/* The Nodes page and a node's own page: refresh by polling, say when a node goes offline or comes
 * back, and (Nodes page, admins) confirm removing a node.
 *
 * The server renders the part that changes (a Jinja partial for the page and for its fragment URL,
 * in the element marked data-node-fragment); this script only swaps that HTML in, keeping keyboard
 * focus where it was, and compares each node's data-online before and after to show a notice (a
 * toast that stays until dismissed). Removing is a plain form POST from the dialog; the script only
 * points the form at the chosen node.
 */
import {fetchFragment, fill, findByKey, focusKey, pollEvery, pollInterval, swapKeepingFocus, uiStrings} from "./ui.js";

const MAX_TOASTS = 5;

function start(list) {
  const strings = uiStrings();
  const toasts = document.getElementById("node-toasts");
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

  function toast(message, offline) {
    const item = document.createElement("div");
    item.className = "toast" + (offline ? " toast--offline" : "");
    const text = document.createElement("p");
    text.className = "toast__text";
    text.textContent = message;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "button button--secondary button--small";
    dismiss.textContent = toasts.dataset.dismiss;
    dismiss.addEventListener("click", function () {
      item.remove();
      list.focus({preventScroll: true});
    });
    item.append(text, dismiss);
    toasts.append(item);
    while (toasts.childElementCount > MAX_TOASTS) {
      toasts.firstElementChild.remove();
    }
  }

  function reportChanges(before, after) {
    for (const [id, now] of after) {
      const earlier = before.get(id);
      if (earlier && earlier.online !== now.online) {
        toast(fill(now.online ? strings.cameOnline : strings.wentOffline, {name: now.name}), !now.online);
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
