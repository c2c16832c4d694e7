/* The Playground's conversation list and transcript, drawn from the store, and the narrator.
 *
 * Model output is always text (textContent), never HTML. Screen readers hear the answer through
 * #answer-live, one finished sentence at a time, instead of the whole text again at every chunk.
 */
import {fill, uiStrings} from "../ui.js";
import {current, sortedConversations, store, titleOf} from "./store.js";

const strings = uiStrings();
const answerLive = document.getElementById("answer-live");
const chatTitle = document.getElementById("chat-title");
const transcript = document.getElementById("transcript");
const messageList = document.getElementById("messages");
const transcriptEmpty = document.getElementById("transcript-empty");
const conversationList = document.getElementById("conversation-list");
const conversationsEmpty = document.getElementById("conversations-empty");
const clearButton = document.getElementById("clear-conversations");
export const numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined,
                                                  {maximumFractionDigits: 1});

// --- The list ------------------------------------------------------------------------------

function svgElement(name, attributes) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
  return element;
}

function trashIcon() {
  const svg = svgElement("svg", {"class": "icon", "viewBox": "0 0 20 20", "width": "16", "height": "16",
                                 "aria-hidden": "true", "focusable": "false"});
  svg.appendChild(svgElement("path", {"d": "M4 6h12M8 6V4h4v2m-6 0 1 10h6l1-10", "fill": "none",
                                      "stroke": "currentColor", "stroke-width": "1.7",
                                      "stroke-linecap": "round", "stroke-linejoin": "round"}));
  return svg;
}

export function renderList() {
  const focused = document.activeElement;
  const focusKey = conversationList.contains(focused) ? focused.dataset.focusKey : null;
  const items = sortedConversations().map(function (conversation) {
    const item = document.createElement("li");
    item.className = "conversation";
    item.dataset.id = conversation.id;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "conversation__open";
    open.dataset.action = "open";
    open.dataset.focusKey = "open:" + conversation.id;
    open.textContent = titleOf(conversation);
    open.title = titleOf(conversation); // the whole title, where the list cuts it short
    if (conversation.id === store.currentId) {
      open.setAttribute("aria-current", "true");
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "conversation__delete";
    remove.dataset.action = "delete";
    remove.dataset.focusKey = "delete:" + conversation.id;
    remove.setAttribute("aria-label", fill(strings.deleteConversation, {title: titleOf(conversation)}));
    remove.appendChild(trashIcon());
    item.append(open, remove);
    return item;
  });
  conversationList.replaceChildren.apply(conversationList, items);
  conversationList.hidden = items.length === 0;
  conversationsEmpty.hidden = items.length > 0;
  clearButton.hidden = items.length === 0;
  if (focusKey) {
    const again = conversationList.querySelector('[data-focus-key="' + CSS.escape(focusKey) + '"]');
    if (again) {
      again.focus();
    }
  }
}

// --- The transcript ------------------------------------------------------------------------

function isActive(message) {
  return message === (store.active && store.active.message);
}

function messageMeta(message) {
  const parts = [];
  if (message.model) {
    parts.push(message.model);
  }
  if (isActive(message)) {
    parts.push(strings.generatingShort);
    return parts.join(" · ");
  }
  if (message.usage) {
    parts.push(fill(strings.promptTokens, {count: message.usage.prompt_tokens}));
    parts.push(fill(strings.completionTokens, {count: message.usage.completion_tokens}));
  }
  if (typeof message.rate === "number" && Number.isFinite(message.rate)) {
    parts.push(fill(strings.tokensPerSecond, {rate: numberFormat.format(message.rate)}));
  }
  if (message.stopped) {
    parts.push(strings.stopped);
  } else if (message.finish === "length") {
    parts.push(strings.cutOff);
  }
  return parts.join(" · ");
}

function messageElement(message, index) {
  const item = document.createElement("li");
  item.className = "message message--" + (message.role === "user" ? "user" : "assistant");
  item.dataset.index = String(index);
  const role = document.createElement("p");
  role.className = "message__role";
  role.textContent = message.role === "user" ? strings.you : strings.assistant;
  const text = document.createElement("div");
  text.className = "message__text";
  text.textContent = message.content || "";
  item.append(role, text);
  if (message.role !== "user") {
    const meta = document.createElement("p");
    meta.className = "message__meta";
    meta.textContent = messageMeta(message);
    item.appendChild(meta);
    if (!message.content && !message.error && !message.stopped && !isActive(message)) {
      text.textContent = strings.noAnswer;
      text.classList.add("message__text--none");
    }
    if (message.error) {
      const error = document.createElement("p");
      error.className = "message__error";
      const label = document.createElement("strong");
      label.textContent = strings.errorLabel + ": ";
      error.append(label, document.createTextNode(message.error));
      item.appendChild(error);
    }
    if (isActive(message)) {
      item.setAttribute("aria-busy", "true");
    }
  }
  return item;
}

function nearBottom() {
  return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 48;
}

export function scrollToEnd() {
  transcript.scrollTop = transcript.scrollHeight;
}

export function showTitle(conversation) {
  chatTitle.textContent = titleOf(conversation);
}

function renderTranscript() {
  const conversation = current();
  const messages = conversation ? conversation.messages : [];
  messageList.replaceChildren.apply(messageList, messages.map(messageElement));
  transcriptEmpty.hidden = messages.length > 0;
  showTitle(conversation);
  scrollToEnd();
}

/* Redraw one message of the conversation on screen (the one being written), keeping the scroll at
 * the end when the reader was there. */
export function renderMessage(conversation, message) {
  if (!conversation || conversation.id !== store.currentId) {
    return;
  }
  const index = conversation.messages.indexOf(message);
  const old = messageList.querySelector('[data-index="' + index + '"]');
  const follow = nearBottom();
  const fresh = messageElement(message, index);
  if (old && old.getAttribute("aria-busy") === "true" && fresh.getAttribute("aria-busy") === "true") {
    // Text arriving: only the new text is added, so a selection or a screen reader's place in it stays put.
    const text = old.querySelector(".message__text");
    const shown = text.textContent;
    if (message.content.startsWith(shown)) {
      text.append(message.content.slice(shown.length));
    } else {
      text.textContent = message.content;
    }
  } else if (old) {
    old.replaceWith(fresh);
  } else {
    messageList.appendChild(fresh);
  }
  transcriptEmpty.hidden = true;
  if (follow) {
    scrollToEnd();
  }
}

export function render() {
  renderList();
  renderTranscript();
}

// --- The narrator --------------------------------------------------------------------------

/* Announces one answer to screen readers as whole sentences, each once (what the last answer said
 * is emptied out when the next one starts). */
export class Narrator {
  constructor() {
    this.pending = "";
    answerLive.replaceChildren();
  }

  add(text) {
    this.pending += text;
    // Up to the last sentence end (., !, ? and their Japanese forms, or a line break) followed by a space.
    const match = this.pending.match(/^[\s\S]*(?:[.!?](?=\s)|[。！？\n])/);
    if (match) {
      this.speak(match[0]);
      this.pending = this.pending.slice(match[0].length);
    } else if (this.pending.length > 300) {
      const cut = this.pending.lastIndexOf(" ");
      const end = cut > 100 ? cut : this.pending.length;
      this.speak(this.pending.slice(0, end));
      this.pending = this.pending.slice(end);
    }
  }

  finish(closing) {
    this.speak((this.pending + " " + (closing || "")).trim());
    this.pending = "";
  }

  speak(text) {
    const words = text.trim();
    if (words) {
      const line = document.createElement("p");
      line.textContent = words;
      answerLive.appendChild(line);
    }
  }
}
