/* The Playground's chat: the composer (Enter sends, Shift+Enter is a new line, Escape or Stop stops),
 * the request (the conversation, the system prompt and the sampling parameters), and the answer,
 * drawn and narrated as it streams in from POST /v1/chat/completions. The page is signed in with its
 * cookie session, so the POST carries the page's forgery-protection token (apiFetch in ui.js does).
 */
import {apiFetch, fill, say, uiStrings} from "../ui.js";
import {startConversation} from "./conversations.js";
import {chosenModel, hasModels} from "./models.js";
import {clearParameterErrors, requestParameters, settings, showParameterError} from "./parameters.js";
import {current, saveConversations, store, titleFrom} from "./store.js";
import {readAnswer, refusal, StreamError} from "./stream.js";
import {Narrator, numberFormat, renderList, renderMessage, scrollToEnd, showTitle} from "./transcript.js";

const strings = uiStrings();
const composer = document.getElementById("composer");
const prompt = document.getElementById("prompt");
const composerError = document.getElementById("composer-error");
const sendButton = document.getElementById("send");
const stopButton = document.getElementById("stop");

/* POST /v1/chat/completions of this router (data-api-base), as the page links it. */
export function chatUrl() {
  return document.getElementById("playground").dataset.apiBase + "/chat/completions";
}

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

export function requestBody(conversation, text, parameters) {
  const messages = [];
  const system = settings.system.trim();
  if (system) {
    messages.push({role: "system", content: settings.system});
  }
  messages.push.apply(messages, history(conversation));
  if (text) {
    messages.push({role: "user", content: text});
  }
  return Object.assign({model: chosenModel(), messages: messages}, parameters,
                       {stream: true, stream_options: {include_usage: true}});
}

// --- Sending -------------------------------------------------------------------------------

export function updateButtons() {
  const busy = store.active !== null;
  sendButton.disabled = busy || !hasModels();
  stopButton.disabled = !busy;
}

function finishGeneration() {
  const stopHadFocus = document.activeElement === stopButton;
  store.active = null;
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
  store.active = {conversation: conversation, message: answer, controller: controller};
  saveConversations();
  renderList();
  if (conversation.id === store.currentId) {
    showTitle(conversation);
    renderMessage(conversation, user);
    renderMessage(conversation, answer);
    scrollToEnd();
  }
  updateButtons();
  const narrator = new Narrator();
  narrator.speak(strings.generating);

  let finished = false;
  try {
    const response = await apiFetch(chatUrl(), {method: "POST", signal: controller.signal,
                                                headers: {Accept: "text/event-stream"}, json: body});
    if (!response.ok) {
      throw new StreamError(await refusal(response));
    }
    const done = await readAnswer(response, function (part) {
      if (part.text) {
        answer.content += part.text;
        narrator.add(part.text);
        renderMessage(conversation, answer);
      }
      if (part.finish) {
        answer.finish = part.finish;
        finished = true;
      }
      if (part.usage) {
        answer.usage = part.usage;
      }
    });
    if (!done && !finished) {
      throw new StreamError(strings.endedEarly);
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
  if (store.conversations.indexOf(conversation) >= 0) {
    saveConversations();
    renderList(); // the list is ordered by the latest activity
    renderMessage(conversation, answer);
  }
  narrator.finish(summary(answer));
  return true;
}

export function setUpChat() {
  composer.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (store.active) {
      return;
    }
    composerError.textContent = "";
    const text = prompt.value;
    if (!chosenModel() || !hasModels()) {
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
    if (store.active) {
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
    } else if (event.key === "Escape" && store.active) {
      event.preventDefault();
      store.active.controller.abort();
    }
  });

  stopButton.addEventListener("click", function () {
    if (store.active) {
      store.active.controller.abort();
    }
  });
}
