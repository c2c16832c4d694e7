/* Helpers shared by the dashboard's page scripts, which are ES modules and import what they use from
 * here: translated sentences (#ui-strings), live regions, keeping focus across a re-render, polling,
 * the CSRF token, and the API's error envelope {"error": {"message", "type", "param", "code"}}.
 */

/* Fills "%(name)s" placeholders, as Flask-Babel leaves them in the page's translated strings. */
export function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, function (match, key) {
    return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
  });
}

let strings = null;

/* Every sentence the page's script shows, translated by the page in
 * <script type="application/json" id="ui-strings">; read once. */
export function uiStrings() {
  if (strings === null) {
    const element = document.getElementById("ui-strings");
    strings = element ? JSON.parse(element.textContent) : {};
  }
  return strings;
}

/* Sets a live region's text. Emptied first so that the same sentence twice in a row is announced twice. */
export function say(element, message) {
  element.textContent = "";
  window.setTimeout(function () { element.textContent = message; }, 50);
}

/* Says `message` through the page's polite live region (#live-region, in every page's layout). */
export function announce(message) {
  say(document.getElementById("live-region"), message);
}

/* A key that finds "the same" control again after its part of the page is re-rendered: its
 * data-focus-key, else "#" + its id; null for nothing worth finding. */
export function focusKey(element) {
  if (!element || element === document.body) {
    return null;
  }
  if (element.dataset && element.dataset.focusKey) {
    return element.dataset.focusKey;
  }
  return element.id ? "#" + element.id : null;
}

export function findByKey(key) {
  if (!key) {
    return null;
  }
  if (key.charAt(0) === "#") {
    return document.getElementById(key.slice(1));
  }
  for (const candidate of document.querySelectorAll("[data-focus-key]")) {
    if (candidate.dataset.focusKey === key) {
      return candidate;
    }
  }
  return null;
}

/* Replaces a container's HTML (a polled fragment); a control inside that had the keyboard focus
 * keeps it, in its re-rendered twin, or the container takes it when the control is gone. */
export function swapKeepingFocus(container, html) {
  const active = document.activeElement;
  const hadFocus = active !== null && active !== container && container.contains(active);
  const key = hadFocus ? focusKey(active) : null;
  container.innerHTML = html;
  if (hadFocus) {
    const target = findByKey(key);
    (target && container.contains(target) ? target : container).focus({preventScroll: true});
  }
}

/* The poll interval an element's data-poll-seconds gives, in ms: at least a second, 10 s when unset. */
export function pollInterval(element) {
  return Math.max(1, parseInt(element.dataset.pollSeconds, 10) || 10) * 1000;
}

/* Runs `task` (which may return a promise) `ms` after its last run ended (`ms` may be a function,
 * asked each time), while the tab is visible:
 * a hidden tab sends no requests, and a tab shown again runs it at once. `now(other)` runs `other`
 * (or `task`) at once and starts the wait again after it. */
export function pollEvery(ms, task) {
  let timer = null;
  function schedule() {
    window.clearTimeout(timer);
    if (document.visibilityState !== "hidden") {
      timer = window.setTimeout(run, typeof ms === "function" ? ms() : ms);
    }
  }
  function run(other) {
    window.clearTimeout(timer);
    return Promise.resolve((other || task)()).finally(schedule);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      window.clearTimeout(timer);
    } else {
      run();
    }
  });
  schedule();
  return {now: run};
}

/* The page's CSRF token (<meta name="csrf-token">); forms carry it as a hidden field. */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/* fetch() for this router's API, from a page signed in with its cookie session: sends the cookies,
 * asks for JSON unless `options.headers` says otherwise, sends the CSRF token as X-CSRFToken with every
 * method but GET and HEAD, and `options.json` (when given) as the JSON body. Rejects as fetch does. */
export function apiFetch(url, options) {
  const init = Object.assign({credentials: "same-origin"}, options);
  init.headers = Object.assign({Accept: "application/json"}, init.headers);
  const method = (init.method || "GET").toUpperCase();
  if (method !== "GET" && method !== "HEAD") {
    init.headers["X-CSRFToken"] = csrfToken();
  }
  if (init.json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(init.json);
  }
  delete init.json;
  return fetch(url, init);
}

/* GETs the HTML of a polled part of the page. Resolves to null when signed out meanwhile (the session
 * ended, or the password changed): the fragment was answered by a redirect to the login page, and the
 * page reloads, which lands there with the way back in `next`. Rejects when the router did not answer
 * or answered with an error status. */
export async function fetchFragment(url, signal) {
  const response = await fetch(url, {signal: signal, headers: {Accept: "text/html"}, cache: "no-store",
                                     credentials: "same-origin"});
  if (response.redirected) {
    window.location.reload();
    return null;
  }
  if (!response.ok) {
    throw new Error("HTTP " + response.status);
  }
  return response.text();
}

/* A response's JSON body; null when it has none or it is not JSON (a proxy's page, a cut connection). */
export async function readJson(response) {
  try {
    return await response.json();
  } catch (error) {
    return null;
  }
}

/* The API's error envelope in a parsed answer (or stream chunk), {"error": {"message", "type", "param",
 * "code"}}, as {message, type, param, code}, each null where missing; null when `data` carries no error. */
export function apiError(data) {
  const problem = data && data.error;
  if (!problem) {
    return null;
  }
  const field = function (name) { return (typeof problem === "object" && problem[name]) || null; };
  return {message: field("message"), type: field("type"), param: field("param"), code: field("code")};
}

/* The error of a refused answer (read from its body): apiError's fields, the message being `fallback`
 * where the body is not the API's envelope or has no message. */
export async function readError(response, fallback) {
  const problem = apiError(await readJson(response)) || {message: null, type: null, param: null, code: null};
  problem.message = problem.message || fallback;
  return problem;
}

/* The message of a refused answer: the envelope's, else `fallback`. */
export async function errorMessage(response, fallback) {
  return (await readError(response, fallback)).message;
}

/* Puts `text` on the clipboard through the Clipboard API: false where there is none (not a secure
 * context) or it was refused (permissions), for the caller's fallback. */
export async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      return false;
    }
  }
  return false;
}

/* --- Toasts: notices that stay until dismissed (#toasts, in every page's layout) -------------------
 * One implementation for every page: the shared alert poller (alerts.js) and the Nodes pages (nodes.js).
 * The region is a polite live region, so each new toast's sentence is read out without taking the
 * focus; its Dismiss button is in the tab order, described by the sentence. */

const MAX_TOASTS = 5;

/* Shows `message` as a toast; `options.tone` is "danger" (a problem), "success" or "info" (default).
 * Returns the toast element. The oldest goes when more than MAX_TOASTS are showing. */
export function toast(message, options) {
  const region = document.getElementById("toasts");
  if (!region) {
    return null;
  }
  const tone = (options && options.tone) || "info";
  const item = document.createElement("div");
  item.className = "toast toast--" + tone;
  const text = document.createElement("p");
  text.className = "toast__text";
  text.id = "toast-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  text.textContent = message;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "button button--secondary button--small toast__dismiss";
  dismiss.textContent = region.dataset.dismiss; // translated by base.html
  dismiss.setAttribute("aria-describedby", text.id);
  dismiss.addEventListener("click", function () { dismissToast(item); });
  item.append(text, dismiss);
  region.append(item);
  while (region.childElementCount > MAX_TOASTS) {
    region.firstElementChild.remove();
  }
  return item;
}

/* Removes a toast. When its button had the focus, the focus goes to the next toast's button (or the
 * previous one's), and to the page's main content when none is left: never lost on <body>. */
export function dismissToast(item) {
  const hadFocus = item.contains(document.activeElement);
  const neighbour = item.nextElementSibling || item.previousElementSibling;
  item.remove();
  if (hadFocus) {
    const target = (neighbour && neighbour.querySelector("button")) || document.getElementById("main");
    if (target) {
      target.focus({preventScroll: true});
    }
  }
}

const ownedAlerts = [];

/* A page script that already tells of some alerts itself says so with a test on an alert record
 * (GET /v0/alerts); the shared poller then shows no second toast for those. The Nodes pages toast a
 * node going offline (and coming back) themselves, for the nodes they show. */
export function ownAlerts(test) {
  ownedAlerts.push(test);
}

export function isOwnedAlert(alert) {
  return ownedAlerts.some(function (test) { return test(alert); });
}
