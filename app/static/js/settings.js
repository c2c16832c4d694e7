/* The settings page: sends what was changed as one PATCH /v0/settings, shows a refused field's error beside
 * it (aria-invalid, aria-describedby, the focus moved there, announced), and shows the answer's values and
 * sources once saved. A secret field is sent only when something was typed in it or its removal was asked. */

import {announce, apiFetch, fill, readError, readJson, uiStrings} from "./ui.js";

const form = document.getElementById("settings-form");
const strings = uiStrings();
const formError = document.getElementById("settings-error");
const status = document.getElementById("settings-status");
const saveButton = document.getElementById("settings-save");

function fields() {
  return Array.from(form.querySelectorAll("[data-setting]"));
}

function control(field) {
  return field.querySelector("input:not([data-clear]), select, textarea");
}

function errorOf(field) {
  return field.querySelector("[data-error]");
}

/* Marks `field` refused with `message` (or clears it with null): the error joins the control's description. */
function setFieldError(field, message) {
  const input = control(field);
  const error = errorOf(field);
  const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
    return id && id !== error.id;
  });
  if (message) {
    error.textContent = message;
    input.setAttribute("aria-invalid", "true");
    ids.push(error.id);
  } else {
    error.textContent = "";
    input.removeAttribute("aria-invalid");
  }
  input.setAttribute("aria-describedby", ids.join(" "));
}

function clearErrors() {
  fields().forEach(function (field) { setFieldError(field, null); });
  formError.textContent = "";
}

/* The change one field asks for, as [value] (null resets to the default), or null when it asks for none.
 * Throws {field, message} for text that is not JSON in a JSON field. */
function changeOf(field) {
  if (field.hasAttribute("data-read-only")) {
    return null;
  }
  const input = control(field);
  const kind = field.dataset.kind;
  if (kind === "secret") {
    const clear = field.querySelector("[data-clear]");
    if (clear && clear.checked) {
      return [null];
    }
    return input.value.trim() ? [input.value.trim()] : null;
  }
  const text = input.value.trim();
  if (text === (input.dataset.initial || "").trim()) {
    return null;
  }
  if (text === "") {
    return [null];
  }
  if (kind === "json") {
    try {
      return [JSON.parse(text)];
    } catch (problem) {
      throw {field: field, message: fill(strings.invalidJson, {problem: problem.message})};
    }
  }
  return [text];
}

function sourceSentence(item) {
  if (item.source === "environment") {
    return fill(strings.fromEnvironment, {variable: item.env_variable});
  }
  return item.source === "database" ? strings.fromDatabase : strings.fromDefault;
}

/* Shows the values in force, as the server answered them. */
function show(settings) {
  settings.forEach(function (item) {
    const field = form.querySelector('[data-setting="' + item.name + '"]');
    if (!field) {
      return;
    }
    const input = control(field);
    field.querySelector("[data-source]").textContent = sourceSentence(item);
    if (item.secret) {
      input.value = "";
      field.querySelector("[data-state]").textContent = item.is_set ? fill(strings.isSet, {hint: item.hint})
        : strings.notSet;
      const clear = field.querySelector("[data-clear]");
      if (clear) {
        clear.checked = false;
        clear.closest("label").hidden = !(item.is_set && item.source === "database");
      }
      return;
    }
    let text = item.value === null || item.value === undefined ? "" : String(item.value);
    if (field.dataset.kind === "json") {
      text = item.value && item.value.length ? JSON.stringify(item.value, null, 2) : "";
    }
    input.value = text;
    input.dataset.initial = text;
  });
}

function refuse(field, message) {
  setFieldError(field, message);
  control(field).focus();
  announce(fill(strings.refused, {message: message}));
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  status.textContent = "";
  const changes = {};
  try {
    fields().forEach(function (field) {
      const change = changeOf(field);
      if (change !== null) {
        changes[field.dataset.setting] = change[0];
      }
    });
  } catch (problem) {
    refuse(problem.field, problem.message);
    return;
  }
  if (Object.keys(changes).length === 0) {
    status.textContent = strings.nothing;
    return;
  }
  saveButton.disabled = true;
  try {
    const response = await apiFetch(form.dataset.url, {method: "PATCH", json: changes});
    if (response.ok) {
      const answer = await readJson(response);
      show(answer.settings);
      status.textContent = strings.saved;
      return;
    }
    const problem = await readError(response, strings.failed);
    const field = problem.param ? form.querySelector('[data-setting="' + problem.param + '"]') : null;
    if (field) {
      refuse(field, problem.message);
    } else {
      formError.textContent = problem.message;
    }
  } catch (error) {
    formError.textContent = strings.failed;
  } finally {
    saveButton.disabled = false;
  }
}

form.addEventListener("submit", save);
