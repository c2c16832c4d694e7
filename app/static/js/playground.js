/* The Playground: chat with a ready model through this router's own /v1 API (entry module).
 *
 * Models come from GET /v1/models and answers from POST /v1/chat/completions with "stream": true.
 * Parameters and conversations live in this browser's localStorage only. Every sentence shown comes
 * translated from the page (#ui-strings) or from the API's error message. The parts, in playground/:
 *   store.js          the conversations (localStorage) and the answer being written
 *   stream.js         reading the answer: server-sent events of the OpenAI stream, refusals
 *   parameters.js     the sampling panel
 *   transcript.js     drawing the conversation list and transcript; the screen-reader narrator
 *   conversations.js  New, open, delete, delete all
 *   models.js         the model picker, polled
 *   chat.js           the composer, sending, Stop
 *   curl.js           Copy as curl
 */
import {setUpChat, updateButtons} from "./playground/chat.js";
import {setUpConversations} from "./playground/conversations.js";
import {setUpCurl} from "./playground/curl.js";
import {startModels} from "./playground/models.js";
import {setUpParameters} from "./playground/parameters.js";
import {CONVERSATIONS_KEY, loadConversations, store} from "./playground/store.js";
import {render} from "./playground/transcript.js";

const root = document.getElementById("playground");
if (root) {
  loadConversations();
  setUpParameters(); // shows the values kept
  setUpConversations();
  setUpChat();
  setUpCurl();

  window.addEventListener("storage", function (event) {
    // Another tab of this Playground changed the conversations: show them, unless this tab is writing.
    if (event.key === CONVERSATIONS_KEY && !store.active) {
      loadConversations();
      render();
    }
  });

  render();
  updateButtons();
  startModels(root, updateButtons);
}
