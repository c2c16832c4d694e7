/* Reading the router's answers in the Playground: the OpenAI stream of POST /v1/chat/completions with
 * "stream": true, read as server-sent events from the response body (fetch + ReadableStream), or one
 * whole JSON answer from a router that did not stream; and why a request was refused.
 */
import {apiError, errorMessage, fill, uiStrings} from "../ui.js";

/* A failure to show the user, in the sentence it carries. */
export class StreamError extends Error {}

/* Why the router refused a request: the sign-in has ended (401), else the API's error message, else
 * the HTTP status. */
export async function refusal(response) {
  const strings = uiStrings();
  if (response.status === 401) {
    return strings.sessionEnded;
  }
  // Not the API's envelope (a proxy's page): the status says what happened.
  return errorMessage(response, fill(strings.httpError, {status: response.status}));
}

/* Reads server-sent events from the body: calls onData with each event's data, until [DONE]. */
export async function readEvents(body, onData) {
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

/* What one chunk of the stream (or a whole answer) carries: {text, finish, usage}. An error in it
 * (the API's error envelope) throws a StreamError with its message. */
function readChunk(chunk, status) {
  const problem = apiError(chunk);
  if (problem) {
    throw new StreamError(problem.message || fill(uiStrings().httpError, {status: status}));
  }
  const choice = chunk.choices && chunk.choices[0];
  const delta = choice && choice.delta ? choice.delta.content : choice && choice.message ? choice.message.content
    : null;
  return {text: typeof delta === "string" ? delta : "", finish: (choice && choice.finish_reason) || null,
          usage: chunk.usage || null};
}

/* Reads the answer of a request that succeeded, calling onPart({text, finish, usage}) for each chunk.
 * Resolves to false when a stream ended before its [DONE]; throws StreamError for what cannot be read. */
export async function readAnswer(response, onPart) {
  const type = response.headers.get("Content-Type") || "";
  if (type.indexOf("text/event-stream") < 0) {
    onPart(readChunk(await response.json(), response.status)); // a router that answered without streaming
    return true;
  }
  return readEvents(response.body, function (payload) {
    let chunk;
    try {
      chunk = JSON.parse(payload);
    } catch (error) {
      throw new StreamError(uiStrings().unreadable);
    }
    onPart(readChunk(chunk, response.status));
  });
}
