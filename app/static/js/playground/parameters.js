/* The Playground's sampling panel: temperature, top P, max tokens and the system prompt, kept (with
 * the model chosen last) in this browser's localStorage as they are typed, checked when a field is
 * left and before each request.
 */
import {announce, uiStrings} from "../ui.js";
import {PARAMETERS_KEY, readStorage, writeStorage} from "./store.js";

const DEFAULTS = {temperature: "0.7", top_p: "1", max_tokens: "512", system: ""};
const parametersForm = document.getElementById("parameters-form");
const parametersError = document.getElementById("parameters-error");
const resetButton = document.getElementById("reset-parameters");
const fields = {
  temperature: document.getElementById("param-temperature"),
  top_p: document.getElementById("param-top-p"),
  max_tokens: document.getElementById("param-max-tokens"),
  system: document.getElementById("param-system"),
};

/* The values as typed (strings), and the model chosen last. */
export const settings = loadParameters();

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

/* Keeps the model chosen, for the next visit. */
export function rememberModel(model) {
  settings.model = model;
  saveParameters();
}

function showParameters() {
  for (const [name, field] of Object.entries(fields)) {
    field.value = settings[name];
  }
}

export function clearParameterErrors() {
  parametersError.textContent = "";
  for (const field of Object.values(fields)) {
    field.removeAttribute("aria-invalid");
    field.setAttribute("aria-describedby", field.dataset.hint);
  }
}

/* The parameters as the API takes them, or {error, field} for the first one that is not valid. */
export function requestParameters() {
  const strings = uiStrings();
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

function markParameterError(problem) {
  clearParameterErrors();
  parametersError.textContent = problem.error;
  problem.field.setAttribute("aria-invalid", "true");
  problem.field.setAttribute("aria-describedby", problem.field.dataset.hint + " " + parametersError.id);
}

/* Shows requestParameters' {error, field} and moves focus to the field. */
export function showParameterError(problem) {
  markParameterError(problem);
  problem.field.focus();
}

export function setUpParameters() {
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
      markParameterError(problem);
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
    announce(uiStrings().parametersReset);
  });

  showParameters();
}
