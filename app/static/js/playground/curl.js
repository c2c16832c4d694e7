/* The Playground's "Copy as curl": the request Send would make (the conversation and the message in
 * the box), as a shell command that reads the API key from $LLM_ROUTER_API_KEY. Where the clipboard
 * cannot be written, the command is shown, selected, for the user to copy.
 */
import {say, uiStrings, writeClipboard} from "../ui.js";
import {chatUrl, requestBody} from "./chat.js";
import {chosenModel, hasModels} from "./models.js";
import {requestParameters, showParameterError} from "./parameters.js";
import {current} from "./store.js";

const strings = uiStrings();
const prompt = document.getElementById("prompt");
const copyButton = document.getElementById("copy-curl");
const copyStatus = document.getElementById("copy-status");
const curlFallbackField = document.getElementById("curl-fallback-field");
const curlFallback = document.getElementById("curl-fallback");

function shellQuote(text) {
  return "'" + text.replace(/'/g, "'\\''") + "'";
}

function curlCommand(body) {
  const url = new URL(chatUrl(), window.location.href).href;
  return ["curl -N " + shellQuote(url),
    '  -H "Authorization: Bearer $LLM_ROUTER_API_KEY"',
    "  -H 'Content-Type: application/json'",
    "  -d " + shellQuote(JSON.stringify(body, null, 2))].join(" \\\n");
}

export function setUpCurl() {
  copyButton.addEventListener("click", async function () {
    curlFallbackField.hidden = true;
    if (!chosenModel() || !hasModels()) {
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
    if (await writeClipboard(command)) {
      say(copyStatus, strings.curlCopied);
      return;
    }
    // Refused (permissions), or no Clipboard API: show the command, selected, instead.
    curlFallback.value = command;
    curlFallbackField.hidden = false;
    curlFallback.focus();
    curlFallback.select();
    say(copyStatus, strings.curlSelected);
  });
}
