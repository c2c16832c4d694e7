/* The Playground: chat with a ready model through this router's own /v1 API.
 *
 * Models come from GET /v1/models and answers from POST /v1/chat/completions with "stream": true,
 * read as server-sent events from the response body (fetch + ReadableStream). The page is signed in
 * with its cookie session, so the POST carries the page's CSRF token as X-CSRFToken.
 *
 * Parameters and conversations live in this browser's localStorage only, under keys of the
 * Playground's own (per signed-in user name), and apply only to requests made from this page.
 *
 * Model output is always text (textContent), never HTML. Screen readers hear the answer through
 * #answer-live, one finished sentence at a time, instead of the whole text again at every chunk.
 * Every sentence shown comes translated from the page (#ui-strings) or from the API's error message.
 */
(function () {
  "use strict";

  const root = document.getElementById("playground");
  if (!root) {
    return;
  }
  const strings = JSON.parse(document.getElementById("ui-strings").textContent);
  const $ = function (id) { return document.getElementById(id); };
  const liveRegion = $("live-region");
  const answerLive = $("answer-live");
  const modelSelect = $("playground-model");
  const modelField = $("model-field");
  const modelStatus = $("model-status");
  const noModel = $("no-model");
  const chatTitle = $("chat-title");
  const transcript = $("transcript");
  const messageList = $("messages");
  const transcriptEmpty = $("transcript-empty");
  const composer = $("composer");
  const prompt = $("prompt");
  const composerError = $("composer-error");
  const sendButton = $("send");
  const stopButton = $("stop");
  const copyButton = $("copy-curl");
  const copyStatus = $("copy-status");
  const curlFallbackField = $("curl-fallback-field");
  const curlFallback = $("curl-fallback");
  const conversationList = $("conversation-list");
  const conversationsEmpty = $("conversations-empty");
  const newButton = $("new-conversation");
  const clearButton = $("clear-conversations");
  const clearDialog = $("clear-dialog");
  const parametersForm = $("parameters-form");
  const parametersError = $("parameters-error");
  const resetButton = $("reset-parameters");
  const fields = {
    temperature: $("param-temperature"),
    top_p: $("param-top-p"),
    max_tokens: $("param-max-tokens"),
    system: $("param-system"),
  };

  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = csrfMeta ? csrfMeta.content : "";
  const apiBase = root.dataset.apiBase;
  const modelsUrl = apiBase + "/models";
  const chatUrl = apiBase + "/chat/completions";
  const pollMs = Math.max(1, parseInt(root.dataset.pollSeconds, 10) || 10) * 1000;
  const owner = root.dataset.storageOwner || "";
  const PARAMETERS_KEY = "llm-router.playground.parameters:" + owner;
  const CONVERSATIONS_KEY = "llm-router.playground.conversations:" + owner;
  const DEFAULTS = {temperature: "0.7", top_p: "1", max_tokens: "512", system: ""};
  const TITLE_LENGTH = 60;
  const numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined, {maximumFractionDigits: 1});

  let settings = loadParameters();
  let state = loadConversations();
  let models = null; // ids of the ready models, once listed
  let active = null; // the generation under way: {conversation, message, controller, ...}
  let pollTimer = null;
  let storageWarned = false;

  // --- Small helpers -------------------------------------------------------------------------

  const fill = window.LLMRouterUI.fill;
  const say = window.LLMRouterUI.say;

  function announce(message) {
    say(liveRegion, message);
  }

  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  function readStorage(key) {
    try {
      const text = window.localStorage.getItem(key);
      return text ? JSON.parse(text) : null;
    } catch (error) {
      return null; // storage turned off, or not ours to read: start empty
    }
  }

  function writeStorage(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch (error) {
      if (!storageWarned) {
        storageWarned = true;
        say(composerError, strings.storageFailed);
      }
      return false;
    }
  }

  // --- Parameters ----------------------------------------------------------------------------

  function loadParameters() {
    const stored = readStorage(PARAMETERS_KEY) || {};
    const result = {model: typeof stored.model === "string" ? stored.model : ""};
    for (const name of Object.keys(DEFAULTS)) {
      result[name] = typeof stored[name] === "string" ? stored[name] : DEFAULTS[name];
    }
    return result;
  }

  function saveParameters() {
    writeStorage(PARAMETERS_KEY, settings);
  }

  function showParameters() {
    for (const [name, field] of Object.entries(fields)) {
      field.value = settings[name];
    }
  }

  function clearParameterErrors() {
    parametersError.textContent = "";
    for (const field of Object.values(fields)) {
      field.removeAttribute("aria-invalid");
      field.setAttribute("aria-describedby", field.dataset.hint);
    }
  }

  /* The parameters as the API takes them, or {error, field} for the first one that is not valid. */
  function requestParameters() {
    const result = {};
    // Text a number field cannot hold ("abc") reads as an empty value: refuse it rather than drop it.
    for (const [name, message] of [["temperature", strings.badTemperature], ["top_p", strings.badTopP],
                                   ["max_tokens", strings.badMaxTokens]]) {
      if (fields[name].validity.badInput) {
        return {error: message, field: fields[name]};
      }
    }
    const temperature = settings.temperature.trim();
    if (temperature !== "") {
      const value = Number(temperature);
      if (!Number.isFinite(value) || value < 0 || value > 2) {
        return {error: strings.badTemperature, field: fields.temperature};
      }
      result.temperature = value;
    }
    const topP = settings.top_p.trim();
    if (topP !== "") {
      const value = Number(topP);
      if (!Number.isFinite(value) || value <= 0 || value > 1) {
        return {error: strings.badTopP, field: fields.top_p};
      }
      result.top_p = value;
    }
    const maxTokens = settings.max_tokens.trim();
    if (maxTokens !== "") {
      const value = Number(maxTokens);
      if (!Number.isInteger(value) || value < 1) {
        return {error: strings.badMaxTokens, field: fields.max_tokens};
      }
      result.max_tokens = value;
    }
    return {values: result};
  }

  function showParameterError(problem) {
    clearParameterErrors();
    parametersError.textContent = problem.error;
    problem.field.setAttribute("aria-invalid", "true");
    problem.field.setAttribute("aria-describedby", problem.field.dataset.hint + " " + parametersError.id);
    problem.field.focus();
  }

  parametersForm.addEventListener("input", function (event) {
    const name = event.target.name;
    if (Object.prototype.hasOwnProperty.call(DEFAULTS, name)) {
      settings[name] = event.target.value;
      saveParameters();
    }
  });

  parametersForm.addEventListener("change", function () {
    // Checked when the user leaves a field, so a typo is pointed out before the next Send.
    const problem = requestParameters();
    if (problem.error) {
      clearParameterErrors();
      parametersError.textContent = problem.error;
      problem.field.setAttribute("aria-invalid", "true");
      problem.field.setAttribute("aria-describedby", problem.field.dataset.hint + " " + parametersError.id);
    } else {
      clearParameterErrors();
    }
  });

  parametersForm.addEventListener("submit", function (event) {
    event.preventDefault(); // Enter in a number field: nothing to submit, the values are already kept
  });

  resetButton.addEventListener("click", function () {
    for (const name of Object.keys(DEFAULTS)) {
      settings[name] = DEFAULTS[name];
    }
    saveParameters();
    showParameters();
    clearParameterErrors();
    announce(strings.parametersReset);
  });

  // --- Conversations: storage ----------------------------------------------------------------

  function loadConversations() {
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
    return {conversations: conversations, currentId: currentId};
  }

  function saveConversations() {
    writeStorage(CONVERSATIONS_KEY, {version: 1, currentId: state.currentId, conversations: state.conversations});
  }

  function current() {
    return state.conversations.find(function (item) { return item.id === state.currentId; }) || null;
  }

  function titleOf(conversation) {
    return (conversation && conversation.title) || strings.newConversation;
  }

  function titleFrom(text) {
    const words = text.replace(/\s+/g, " ").trim();
    return words.length > TITLE_LENGTH ? words.slice(0, TITLE_LENGTH - 1).trimEnd() + "…" : words;
  }

  /* Newest activity first. */
  function sortedConversations() {
    return state.conversations.slice().sort(function (a, b) { return (b.updated || 0) - (a.updated || 0); });
  }

  // --- Conversations: the list ---------------------------------------------------------------

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

  function renderList() {
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
      if (conversation.id === state.currentId) {
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

  // --- Conversations: the transcript ---------------------------------------------------------

  function messageMeta(message) {
    const parts = [];
    if (message.model) {
      parts.push(message.model);
    }
    if (message === (active && active.message)) {
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
      if (!message.content && !message.error && !message.stopped && message !== (active && active.message)) {
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
      if (message === (active && active.message)) {
        item.setAttribute("aria-busy", "true");
      }
    }
    return item;
  }

  function nearBottom() {
    return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 48;
  }

  function scrollToEnd() {
    transcript.scrollTop = transcript.scrollHeight;
  }

  function renderTranscript() {
    const conversation = current();
    const messages = conversation ? conversation.messages : [];
    messageList.replaceChildren.apply(messageList, messages.map(messageElement));
    transcriptEmpty.hidden = messages.length > 0;
    chatTitle.textContent = titleOf(conversation);
    scrollToEnd();
  }

  /* Redraw one message of the conversation on screen (the one being written), keeping the scroll at
   * the end when the reader was there. */
  function renderMessage(conversation, message) {
    if (!conversation || conversation.id !== state.currentId) {
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

  function render() {
    renderList();
    renderTranscript();
  }

  // --- Conversations: actions ----------------------------------------------------------------

  function startConversation() {
    const conversation = current();
    if (!conversation || conversation.messages.length > 0) {
      const fresh = {id: newId(), title: "", created: Date.now(), updated: Date.now(), messages: []};
      state.conversations.push(fresh);
      state.currentId = fresh.id;
      saveConversations();
    }
    render();
  }

  function openConversation(id) {
    if (id === state.currentId) {
      return;
    }
    state.currentId = id;
    // An empty conversation left behind is dropped: it has nothing to come back to.
    state.conversations = state.conversations.filter(function (item) {
      return item.id === id || item.messages.length > 0 || (active && active.conversation === item);
    });
    saveConversations();
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
    if (active && active.conversation === doomed) {
      active.controller.abort();
    }
    state.conversations = state.conversations.filter(function (item) { return item.id !== id; });
    if (state.currentId === id) {
      state.currentId = null;
    }
    saveConversations();
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
    if (active) {
      active.controller.abort();
    }
    state = {conversations: [], currentId: null};
    saveConversations();
    render();
    newButton.focus();
    announce(strings.clearedConversations);
  }

  newButton.addEventListener("click", function () {
    startConversation();
    prompt.focus();
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

  // --- Models --------------------------------------------------------------------------------

  async function errorMessage(response) {
    if (response.status === 401) {
      return strings.sessionEnded;
    }
    try {
      const data = await response.json();
      if (data && data.error && data.error.message) {
        return data.error.message;
      }
    } catch (error) {
      // not the API's envelope (a proxy's page): the status says what happened
    }
    return fill(strings.httpError, {status: response.status});
  }

  function showModels(ids) {
    const wanted = modelSelect.value || settings.model;
    const same = models !== null && ids.length === models.length && ids.every(function (id, i) { return id === models[i]; });
    models = ids;
    modelStatus.textContent = "";
    if (!same) {
      modelSelect.replaceChildren.apply(modelSelect, ids.map(function (id) {
        const option = document.createElement("option");
        option.value = id;
        option.textContent = id;
        return option;
      }));
      modelSelect.value = ids.indexOf(wanted) >= 0 ? wanted : (ids[0] || "");
    }
    const none = ids.length === 0;
    noModel.hidden = !none;
    modelField.hidden = none;
    updateButtons();
  }

  /* A list that could not be read: say why; a list shown before stays usable. */
  function modelsFailed(message) {
    modelStatus.textContent = fill(strings.modelsFailed, {message: message});
    if (models === null) {
      modelField.hidden = true; // nothing to pick from, not even "Loading"
    }
  }

  async function loadModels() {
    let response;
    try {
      response = await fetch(modelsUrl, {headers: {Accept: "application/json"}, credentials: "same-origin",
                                         cache: "no-store"});
    } catch (error) {
      modelsFailed(strings.networkError);
      return;
    }
    if (!response.ok) {
      modelsFailed(await errorMessage(response));
      return;
    }
    try {
      const data = await response.json();
      showModels((data.data || []).map(function (model) { return String(model.id); }));
    } catch (error) {
      modelsFailed(strings.unreadable);
    }
  }

  function schedulePoll() {
    window.clearTimeout(pollTimer);
    if (document.visibilityState !== "hidden") {
      pollTimer = window.setTimeout(poll, pollMs);
    }
  }

  function poll() {
    loadModels().finally(schedulePoll);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      window.clearTimeout(pollTimer); // no requests from a tab nobody looks at
    } else {
      poll();
    }
  });

  modelSelect.addEventListener("change", function () {
    settings.model = modelSelect.value;
    saveParameters();
  });

  // --- Building the request ------------------------------------------------------------------

  /* The conversation as the model sees it: user messages that got an answer, and the answers.
   * A message whose request failed before any text came back is left out, so the next request
   * does not carry two user turns in a row. */
  function history(conversation) {
    const result = [];
    const messages = conversation ? conversation.messages : [];
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i];
      if (message.role === "user") {
        const answer = messages[i + 1];
        if (answer && answer.role === "assistant" && answer.content) {
          result.push({role: "user", content: message.content}, {role: "assistant", content: answer.content});
          i++;
        }
      }
    }
    return result;
  }

  function requestBody(conversation, text, parameters) {
    const messages = [];
    const system = settings.system.trim();
    if (system) {
      messages.push({role: "system", content: settings.system});
    }
    messages.push.apply(messages, history(conversation));
    if (text) {
      messages.push({role: "user", content: text});
    }
    return Object.assign({model: modelSelect.value, messages: messages}, parameters,
                         {stream: true, stream_options: {include_usage: true}});
  }

  // --- Streaming -----------------------------------------------------------------------------

  function StreamError(message) {
    this.message = message;
  }

  /* Reads server-sent events from the body: calls onData with each event's data, until [DONE]. */
  async function readEvents(body, onData) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let data = [];
    try {
      for (;;) {
        const chunk = await reader.read();
        buffer += chunk.done ? decoder.decode() : decoder.decode(chunk.value, {stream: true});
        const lines = buffer.split("\n");
        buffer = chunk.done ? "" : lines.pop();
        for (const raw of lines) {
          const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
          if (line === "") {
            if (data.length > 0) {
              const payload = data.join("\n");
              data = [];
              if (payload === "[DONE]") {
                return true;
              }
              onData(payload);
            }
          } else if (line.startsWith("data:")) {
            data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
          } // comments (":") and other fields (event:, id:, retry:) carry nothing for us
        }
        if (chunk.done) {
          if (data.length > 0 && data.join("\n") !== "[DONE]") {
            onData(data.join("\n"));
          }
          return data.join("\n") === "[DONE]";
        }
      }
    } finally {
      reader.cancel().catch(function () {});
    }
  }

  /* Announces the answer to screen readers as whole sentences, each once. */
  function Narrator() {
    this.pending = "";
  }

  Narrator.prototype.add = function (text) {
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
  };

  Narrator.prototype.finish = function (closing) {
    this.speak((this.pending + " " + (closing || "")).trim());
    this.pending = "";
  };

  Narrator.prototype.speak = function (text) {
    const words = text.trim();
    if (words) {
      const line = document.createElement("p");
      line.textContent = words;
      answerLive.appendChild(line);
    }
  };

  function updateButtons() {
    const busy = active !== null;
    sendButton.disabled = busy || !models || models.length === 0;
    stopButton.disabled = !busy;
  }

  function finishGeneration() {
    const stopHadFocus = document.activeElement === stopButton;
    active = null;
    updateButtons();
    if (stopHadFocus) {
      prompt.focus(); // Stop is disabled now: focus goes where the next message is written
    }
  }

  function summary(message) {
    const parts = [message.error ? fill(strings.errorAnnounce, {message: message.error})
      : message.stopped ? strings.stoppedAnnounce : strings.answerDone];
    if (message.usage) {
      parts.push(fill(strings.completionTokens, {count: message.usage.completion_tokens}));
    }
    if (typeof message.rate === "number") {
      parts.push(fill(strings.tokensPerSecond, {rate: numberFormat.format(message.rate)}));
    }
    return parts.join(" ");
  }

  async function send(text) {
    const conversation = current() || (startConversation(), current());
    const parameters = requestParameters();
    if (parameters.error) {
      showParameterError(parameters);
      return false;
    }
    clearParameterErrors();
    const body = requestBody(conversation, text, parameters.values);
    const user = {role: "user", content: text};
    const answer = {role: "assistant", content: "", model: body.model};
    conversation.messages.push(user, answer);
    if (!conversation.title) {
      conversation.title = titleFrom(text);
    }
    conversation.updated = Date.now();
    const controller = new AbortController();
    const started = performance.now();
    active = {conversation: conversation, message: answer, controller: controller};
    saveConversations();
    renderList();
    if (conversation.id === state.currentId) {
      chatTitle.textContent = titleOf(conversation);
      renderMessage(conversation, user);
      renderMessage(conversation, answer);
      scrollToEnd();
    }
    updateButtons();
    answerLive.replaceChildren();
    const narrator = new Narrator();
    narrator.speak(strings.generating);

    let finished = false;
    try {
      const response = await fetch(chatUrl, {
        method: "POST",
        credentials: "same-origin",
        signal: controller.signal,
        headers: {"Content-Type": "application/json", Accept: "text/event-stream", "X-CSRFToken": csrfToken},
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        throw new StreamError(await errorMessage(response));
      }
      const onChunk = function (chunk) {
        if (chunk.error) {
          throw new StreamError(chunk.error.message || fill(strings.httpError, {status: response.status}));
        }
        const choice = chunk.choices && chunk.choices[0];
        const delta = choice && choice.delta ? choice.delta.content : choice && choice.message ? choice.message.content
          : null;
        if (typeof delta === "string" && delta) {
          answer.content += delta;
          narrator.add(delta);
          renderMessage(conversation, answer);
        }
        if (choice && choice.finish_reason) {
          answer.finish = choice.finish_reason;
          finished = true;
        }
        if (chunk.usage) {
          answer.usage = chunk.usage;
        }
      };
      const type = response.headers.get("Content-Type") || "";
      if (type.indexOf("text/event-stream") >= 0) {
        const done = await readEvents(response.body, function (payload) {
          let chunk;
          try {
            chunk = JSON.parse(payload);
          } catch (error) {
            throw new StreamError(strings.unreadable);
          }
          onChunk(chunk);
        });
        if (!done && !finished) {
          throw new StreamError(strings.endedEarly);
        }
      } else {
        onChunk(await response.json()); // a router that answered without streaming: one whole answer
      }
    } catch (error) {
      if (error instanceof StreamError) {
        answer.error = error.message;
      } else if (error && error.name === "AbortError") {
        answer.stopped = true;
      } else if (error instanceof TypeError) {
        answer.error = strings.networkError; // fetch itself failed: no connection
      } else {
        answer.error = strings.unreadable;
      }
    }
    if (answer.usage && answer.usage.completion_tokens > 0) {
      const seconds = (performance.now() - started) / 1000;
      answer.rate = seconds > 0 ? answer.usage.completion_tokens / seconds : undefined;
    }
    conversation.updated = Date.now();
    finishGeneration();
    if (state.conversations.indexOf(conversation) >= 0) {
      saveConversations();
      renderList(); // the list is ordered by the latest activity
      renderMessage(conversation, answer);
    }
    narrator.finish(summary(answer));
    return true;
  }

  composer.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (active) {
      return;
    }
    composerError.textContent = "";
    const text = prompt.value;
    if (!modelSelect.value || !models || models.length === 0) {
      say(composerError, strings.noModel);
      return;
    }
    if (!text.trim()) {
      say(composerError, strings.emptyMessage);
      prompt.focus();
      return;
    }
    prompt.focus();
    const pending = send(text);
    // The box is emptied once the message is on its way (not when the parameters refused it).
    if (active) {
      prompt.value = "";
    }
    await pending;
  });

  prompt.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter is a new line. Enter that confirms an input method's conversion
    // (Japanese kana to kanji) is not a send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      composer.requestSubmit();
    } else if (event.key === "Escape" && active) {
      event.preventDefault();
      active.controller.abort();
    }
  });

  stopButton.addEventListener("click", function () {
    if (active) {
      active.controller.abort();
    }
  });

  // --- Copy as curl --------------------------------------------------------------------------

  function shellQuote(text) {
    return "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function curlCommand(body) {
    const url = new URL(chatUrl, window.location.href).href;
    return ["curl -N " + shellQuote(url),
      '  -H "Authorization: Bearer $LLM_ROUTER_API_KEY"',
      "  -H 'Content-Type: application/json'",
      "  -d " + shellQuote(JSON.stringify(body, null, 2))].join(" \\\n");
  }

  copyButton.addEventListener("click", async function () {
    curlFallbackField.hidden = true;
    if (!modelSelect.value || !models || models.length === 0) {
      say(copyStatus, strings.noModel);
      return;
    }
    const parameters = requestParameters();
    if (parameters.error) {
      showParameterError(parameters);
      return;
    }
    const body = requestBody(current(), prompt.value.trim() ? prompt.value : "", parameters.values);
    if (!body.messages.some(function (message) { return message.role === "user"; })) {
      say(copyStatus, strings.curlNeedsMessage);
      return;
    }
    const command = curlCommand(body);
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(command);
        copied = true;
      } catch (error) {
        copied = false; // refused (permissions): show the command, selected, instead
      }
    }
    if (copied) {
      say(copyStatus, strings.curlCopied);
      return;
    }
    curlFallback.value = command;
    curlFallbackField.hidden = false;
    curlFallback.focus();
    curlFallback.select();
    say(copyStatus, strings.curlSelected);
  });

  // --- Start ---------------------------------------------------------------------------------

  window.addEventListener("storage", function (event) {
    // Another tab of this Playground changed the conversations: show them, unless this tab is writing.
    if (event.key === CONVERSATIONS_KEY && !active) {
      state = loadConversations();
      render();
    }
  });

  showParameters();
  render();
  updateButtons();
  poll();
})();
