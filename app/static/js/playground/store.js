/* The Playground's conversation store: the conversations, which one is shown, and the answer being
 * written.
 *
 * Conversations and parameters live in this browser's localStorage only, under keys of the
 * Playground's own (per signed-in user name, data-storage-owner), and apply only to requests made
 * from this page.
 */
import {say, uiStrings} from "../ui.js";

const root = document.getElementById("playground");
const owner = (root && root.dataset.storageOwner) || "";
export const PARAMETERS_KEY = "llm-router.playground.parameters:" + owner;
export const CONVERSATIONS_KEY = "llm-router.playground.conversations:" + owner;
const TITLE_LENGTH = 60;

/* conversations: [{id, title, created, updated, messages: [{role, content, model?, usage?, ...}]}];
 * active: the generation under way, {conversation, message, controller}, else null. */
export const store = {conversations: [], currentId: null, active: null};

let storageWarned = false;

export function newId() {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
}

export function readStorage(key) {
  try {
    const text = window.localStorage.getItem(key);
    return text ? JSON.parse(text) : null;
  } catch (error) {
    return null; // storage turned off, or not ours to read: start empty
  }
}

export function writeStorage(key, value) {
  try {
    window.localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch (error) {
    if (!storageWarned) {
      storageWarned = true;
      say(document.getElementById("composer-error"), uiStrings().storageFailed);
    }
    return false;
  }
}

/* Reads the conversations (again) from storage. */
export function loadConversations() {
  const stored = readStorage(CONVERSATIONS_KEY);
  const conversations = stored && Array.isArray(stored.conversations) ? stored.conversations.filter(function (item) {
    return item && typeof item.id === "string" && Array.isArray(item.messages);
  }) : [];
  for (const conversation of conversations) { // whatever else was written there is left out
    conversation.messages = conversation.messages.filter(function (message) {
      return message && (message.role === "user" || message.role === "assistant") && typeof message.content === "string";
    });
    conversation.title = typeof conversation.title === "string" ? conversation.title : "";
  }
  const currentId = stored && conversations.some(function (item) { return item.id === stored.currentId; })
    ? stored.currentId : null;
  store.conversations = conversations;
  store.currentId = currentId;
}

export function saveConversations() {
  writeStorage(CONVERSATIONS_KEY, {version: 1, currentId: store.currentId, conversations: store.conversations});
}

export function current() {
  return store.conversations.find(function (item) { return item.id === store.currentId; }) || null;
}

export function titleOf(conversation) {
  return (conversation && conversation.title) || uiStrings().newConversation;
}

export function titleFrom(text) {
  const words = text.replace(/\s+/g, " ").trim();
  return words.length > TITLE_LENGTH ? words.slice(0, TITLE_LENGTH - 1).trimEnd() + "…" : words;
}

/* Newest activity first. */
export function sortedConversations() {
  return store.conversations.slice().sort(function (a, b) { return (b.updated || 0) - (a.updated || 0); });
}

/* A new, empty conversation becomes the current one (unless the current one is empty already). */
export function addConversation() {
  const conversation = current();
  if (!conversation || conversation.messages.length > 0) {
    const fresh = {id: newId(), title: "", created: Date.now(), updated: Date.now(), messages: []};
    store.conversations.push(fresh);
    store.currentId = fresh.id;
    saveConversations();
  }
}

/* Makes conversation `id` the current one. An empty conversation left behind is dropped: it has
 * nothing to come back to. */
export function selectConversation(id) {
  store.currentId = id;
  store.conversations = store.conversations.filter(function (item) {
    return item.id === id || item.messages.length > 0 || (store.active && store.active.conversation === item);
  });
  saveConversations();
}

/* Deletes a conversation, stopping its answer if one is being written. */
export function removeConversation(doomed) {
  if (store.active && store.active.conversation === doomed) {
    store.active.controller.abort();
  }
  store.conversations = store.conversations.filter(function (item) { return item.id !== doomed.id; });
  if (store.currentId === doomed.id) {
    store.currentId = null;
  }
  saveConversations();
}

/* Deletes every conversation, stopping the answer being written. */
export function removeAll() {
  if (store.active) {
    store.active.controller.abort();
  }
  store.conversations = [];
  store.currentId = null;
  saveConversations();
}
