/* The Models page: search, refresh by polling, registering and deleting through the /v0 API.
 *
 * The page is signed in with a cookie session, so every call that changes something sends the page's
 * forgery-protection token (apiFetch in ui.js does). Viewers get the page without the register and
 * delete controls and dialogs; this script then only searches and refreshes.
 *
 * The server renders every list (one Jinja partial for the page and for the fragment endpoints);
 * this script only fetches that HTML and swaps it in, keeping keyboard focus where it was. Every
 * sentence it shows comes translated from the page (#ui-strings) or from the API's error message.
 */
import {announce, apiFetch, fetchFragment, fill, findByKey, focusKey, pollEvery, pollInterval, readError, readJson,
        swapKeepingFocus, uiStrings} from "./ui.js";

function start(list) {
  const strings = uiStrings();
  const pageAlert = document.getElementById("page-alert");
  const searchInput = document.getElementById("model-search");
  const registerDialog = document.getElementById("register-dialog");
  const registerForm = document.getElementById("register-form");
  const registerSubmit = document.getElementById("register-submit");
  const registerError = document.getElementById("register-error");
  const deleteDialog = document.getElementById("delete-dialog");
  const deleteForm = document.getElementById("delete-form");
  const deleteSubmit = document.getElementById("delete-submit");
  const deleteError = document.getElementById("delete-error");
  const deleteTitle = document.getElementById("delete-dialog-title");
  // Which register-form field an API error's `param` points at.
  const fieldIds = {repo: "register-repo", filename: "register-filename", display_name: "register-display-name"};

  let query = searchInput ? searchInput.value : "";
  let inFlight = null; // AbortController of the fragment request under way
  let refreshWanted = false; // a refresh was skipped because a dialog was open
  let lastHtml = null;

  // --- Small helpers -------------------------------------------------------------------------

  /* An error of an action started outside a dialog, shown until dismissed (button or Escape). */
  function showAlert(message, origin) {
    const text = document.createElement("p");
    text.className = "page-alert__text";
    text.textContent = message;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "button button--secondary button--small";
    dismiss.textContent = strings.dismiss;
    dismiss.addEventListener("click", function () {
      clearAlert();
      (findByKey(pageAlert.dataset.originKey) || list).focus(); // back to where the user was
    });
    pageAlert.dataset.originKey = focusKey(origin) || "";
    pageAlert.replaceChildren(text, dismiss);
  }

  function clearAlert() {
    pageAlert.replaceChildren();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !dialogOpen() && pageAlert.childElementCount > 0) {
      const inAlert = pageAlert.contains(document.activeElement);
      clearAlert();
      if (inAlert) {
        (findByKey(pageAlert.dataset.originKey) || list).focus();
      }
    }
  });

  function dialogOpen() {
    return document.querySelector("dialog[open]") !== null;
  }

  /* The model's name as the page shows it: the heading the action button is described by. */
  function nameFor(button) {
    const title = document.getElementById(button.getAttribute("aria-describedby"));
    return title ? title.textContent.trim() : button.dataset.modelId;
  }

  /* {ok: true, data} (the answer's JSON, null for none), or {ok: false, message, param} to show. */
  async function callApi(method, url, body) {
    let response;
    try {
      response = await apiFetch(url, {method: method, json: body});
    } catch (error) {
      return {ok: false, message: strings.networkError, param: null};
    }
    if (response.ok) {
      return {ok: true, data: response.status === 204 ? null : await readJson(response)};
    }
    const problem = await readError(response, fill(strings.httpError, {status: response.status}));
    return {ok: false, message: problem.message, param: problem.param};
  }

  // --- Refreshing the list -------------------------------------------------------------------

  /* Fetch the list's HTML and swap it in. `force` replaces a request under way (a poll) instead of
   * yielding to it. Open dialogs are never touched: the refresh happens when they close. */
  async function refresh(options) {
    const force = Boolean(options && options.force);
    const reportErrors = Boolean(options && options.reportErrors);
    if (dialogOpen()) {
      refreshWanted = true;
      return false;
    }
    if (inFlight) {
      if (!force) {
        return false;
      }
      inFlight.abort();
    }
    const controller = new AbortController();
    inFlight = controller;
    const url = list.dataset.fragmentUrl + (query.trim() ? "?q=" + encodeURIComponent(query) : "");
    try {
      const html = await fetchFragment(url, controller.signal);
      if (html === null || controller.signal.aborted) { // null: signed out meanwhile, the page reloads
        return false;
      }
      if (dialogOpen()) {
        refreshWanted = true;
        return false;
      }
      if (html !== lastHtml) {
        swapKeepingFocus(list, html);
        lastHtml = html;
      }
      return true;
    } catch (error) {
      if (error.name !== "AbortError" && reportErrors) {
        showAlert(strings.networkError, document.activeElement);
      }
      return false;
    } finally {
      if (inFlight === controller) {
        inFlight = null;
      }
    }
  }

  pollEvery(pollInterval(list), function () { return refresh(); });

  // --- Search --------------------------------------------------------------------------------

  async function runSearch() {
    query = searchInput.value;
    const here = new URL(window.location.href);
    if (query.trim()) {
      here.searchParams.set("q", query);
    } else {
      here.searchParams.delete("q");
    }
    const path = here.pathname + here.search;
    window.history.replaceState(window.history.state, "", path + here.hash);
    // The language switcher brings the user back to the same search.
    for (const link of document.querySelectorAll(".lang-switch a[href]")) {
      const target = new URL(link.href);
      target.searchParams.set("next", path);
      link.href = target.pathname + target.search;
    }
    if (await refresh({force: true, reportErrors: true})) {
      const count = list.querySelector("[data-result-count]");
      if (count) {
        announce(count.textContent.trim());
      }
    }
  }

  if (searchInput) {
    let debounce = null;
    searchInput.addEventListener("input", function () {
      window.clearTimeout(debounce);
      debounce = window.setTimeout(runSearch, 200);
    });
    searchInput.form.addEventListener("submit", function (event) {
      event.preventDefault();
      window.clearTimeout(debounce);
      runSearch();
    });
  }

  // --- Dialogs -------------------------------------------------------------------------------

  function openDialog(dialog, opener) {
    dialog.dataset.openerKey = focusKey(opener) || "";
    dialog.showModal();
  }

  for (const dialog of [registerDialog, deleteDialog].filter(Boolean)) {
    dialog.addEventListener("close", function () {
      // Back to the control that opened the dialog (or its re-rendered twin).
      const opener = findByKey(dialog.dataset.openerKey);
      (opener || list).focus();
      if (refreshWanted) {
        refreshWanted = false;
        refresh({force: true});
      }
    });
  }

  document.addEventListener("click", function (event) {
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      closer.closest("dialog").close();
      return;
    }
    const button = event.target.closest("[data-action]");
    if (!button || button.getAttribute("aria-disabled") === "true") {
      return;
    }
    if (button.dataset.action === "register") {
      registerSupported(button);
    } else if (button.dataset.action === "delete") {
      openDelete(button);
    } else if (button.dataset.action === "cancel" || button.dataset.action === "retry") {
      changeDownload(button, button.dataset.action);
    }
  });

  if (!registerForm || !deleteForm) {
    return; // a viewer's page: nothing to register or delete
  }

  // --- Registering ---------------------------------------------------------------------------

  function setBusy(button, label) {
    // aria-disabled rather than disabled: a disabled button would lose keyboard focus.
    button.setAttribute("aria-disabled", "true");
    button.dataset.idleLabel = button.textContent;
    button.textContent = label;
  }

  function clearBusy(button) {
    if (button.getAttribute("aria-disabled") === "true") {
      button.removeAttribute("aria-disabled");
      button.textContent = button.dataset.idleLabel;
    }
  }

  async function registerSupported(button) {
    const name = nameFor(button);
    setBusy(button, strings.registering);
    const result = await callApi("POST", registerForm.action, {id: button.dataset.modelId});
    if (result.ok) {
      clearAlert();
      await refresh({force: true});
      announce(fill(strings.registered, {name: name}));
    } else {
      showAlert(result.message, button);
    }
    clearBusy(button); // still on the page only when the refresh did not replace it
  }

  /* Cancel a model's downloads on every node, or start them again (POST /v0/models/<id>/cancel|retry). */
  async function changeDownload(button, action) {
    const name = nameFor(button);
    const modelId = button.dataset.modelId;
    const url = deleteForm.dataset.modelsUrl + "/" + modelId.split("/").map(encodeURIComponent).join("/") + "/" + action;
    setBusy(button, action === "cancel" ? strings.cancelling : strings.retrying);
    const result = await callApi("POST", url);
    if (result.ok) {
      clearAlert();
      await refresh({force: true});
      announce(fill(action === "cancel" ? strings.cancelled : strings.retried, {name: name}));
    } else {
      showAlert(result.message, button);
    }
    clearBusy(button);
  }

  function clearFieldErrors() {
    registerError.textContent = "";
    for (const id of Object.values(fieldIds)) {
      const field = document.getElementById(id);
      field.removeAttribute("aria-invalid");
      if (field.dataset.hint) {
        field.setAttribute("aria-describedby", field.dataset.hint);
      } else {
        field.removeAttribute("aria-describedby");
      }
    }
  }

  function showFieldError(message, param) {
    const field = document.getElementById(fieldIds[param] || fieldIds.repo);
    registerError.textContent = message;
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", ((field.dataset.hint || "") + " " + registerError.id).trim());
    field.focus();
  }

  document.getElementById("open-register-dialog").addEventListener("click", function (event) {
    clearFieldErrors();
    openDialog(registerDialog, event.currentTarget);
  });

  registerForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (registerSubmit.disabled) {
      return;
    }
    clearFieldErrors();
    const body = {};
    for (const [key, value] of new FormData(registerForm)) {
      const text = String(value).trim();
      if (text) {
        body[key] = text;
      }
    }
    registerSubmit.disabled = true;
    registerSubmit.textContent = strings.registering;
    registerForm.setAttribute("aria-busy", "true");
    const result = await callApi("POST", registerForm.action, body);
    registerSubmit.disabled = false;
    registerSubmit.textContent = strings.register;
    registerForm.removeAttribute("aria-busy");
    if (result.ok) {
      const name = (result.data && result.data.name) || body.repo;
      registerForm.reset();
      if (registerDialog.open) {
        registerDialog.close();
      }
      clearAlert();
      await refresh({force: true});
      announce(fill(strings.registered, {name: name}));
    } else if (registerDialog.open) {
      showFieldError(result.message, result.param);
    } else {
      showAlert(result.message, document.getElementById("open-register-dialog")); // closed while waiting
    }
  });

  // --- Deleting ------------------------------------------------------------------------------

  function openDelete(button) {
    const name = nameFor(button);
    deleteForm.dataset.modelId = button.dataset.modelId;
    deleteForm.dataset.modelName = name;
    deleteTitle.textContent = fill(strings.deleteTitle, {name: name});
    deleteError.textContent = "";
    openDialog(deleteDialog, button);
  }

  deleteForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (deleteSubmit.disabled) {
      return;
    }
    const modelId = deleteForm.dataset.modelId;
    const name = deleteForm.dataset.modelName;
    const url = deleteForm.dataset.modelsUrl + "/" + modelId.split("/").map(encodeURIComponent).join("/");
    deleteError.textContent = "";
    deleteSubmit.disabled = true;
    deleteSubmit.textContent = strings.deleting;
    const result = await callApi("DELETE", url);
    deleteSubmit.disabled = false;
    deleteSubmit.textContent = strings.delete;
    if (result.ok) {
      if (deleteDialog.open) {
        deleteDialog.close();
      }
      clearAlert();
      await refresh({force: true});
      announce(fill(strings.deleted, {name: name}));
    } else if (deleteDialog.open) {
      deleteError.textContent = result.message;
      deleteSubmit.focus();
    } else {
      showAlert(result.message, findByKey("action:" + modelId));
    }
  });
}

const modelList = document.getElementById("model-list");
if (modelList) {
  start(modelList);
}
