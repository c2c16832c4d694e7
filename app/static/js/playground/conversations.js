/* The Playground's conversation actions: New, open one from the list, delete one, delete every one
 * (once the dialog confirms); each redraws, moves focus where the user goes next, and says what happened.
 */
import {announce, fill, uiStrings} from "../ui.js";
import {addConversation, current, removeAll, removeConversation, selectConversation, sortedConversations, store,
        titleOf} from "./store.js";
import {render} from "./transcript.js";

const strings = uiStrings();
const conversationList = document.getElementById("conversation-list");
const newButton = document.getElementById("new-conversation");
const clearButton = document.getElementById("clear-conversations");
const clearDialog = document.getElementById("clear-dialog");

export function startConversation() {
  addConversation();
  render();
}

function openConversation(id) {
  if (id === store.currentId) {
    return;
  }
  selectConversation(id);
  render();
  announce(fill(strings.switchedConversation, {title: titleOf(current())}));
}

function deleteConversation(id, trigger) {
  const ordered = sortedConversations();
  const position = ordered.findIndex(function (item) { return item.id === id; });
  const doomed = ordered[position];
  if (!doomed) {
    return;
  }
  removeConversation(doomed);
  render();
  // Focus goes to the conversation that took its place in the list, else the one above, else New.
  const rest = sortedConversations();
  const next = rest[Math.min(position, rest.length - 1)];
  const target = next ? conversationList.querySelector('[data-focus-key="' + CSS.escape("open:" + next.id) + '"]')
    : null;
  if (trigger) {
    (target || newButton).focus();
  }
  announce(fill(strings.deletedConversation, {title: titleOf(doomed)}));
}

function clearConversations() {
  removeAll();
  render();
  newButton.focus();
  announce(strings.clearedConversations);
}

export function setUpConversations() {
  newButton.addEventListener("click", function () {
    startConversation();
    document.getElementById("prompt").focus();
    announce(strings.startedConversation);
  });

  conversationList.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) {
      return;
    }
    const id = button.closest(".conversation").dataset.id;
    if (button.dataset.action === "open") {
      openConversation(id);
    } else {
      deleteConversation(id, button);
    }
  });

  clearButton.addEventListener("click", function () {
    clearDialog.showModal();
  });

  clearDialog.addEventListener("close", function () {
    if (clearDialog.returnValue === "clear") {
      clearConversations();
    } else if (!clearButton.hidden) {
      clearButton.focus();
    }
    clearDialog.returnValue = "";
  });
}
