/* The Playground's model picker: the ready models from GET /v1/models, asked again every
 * data-poll-seconds while the tab is visible; the model chosen last is picked again.
 */
import {apiFetch, fill, pollEvery, pollInterval, uiStrings} from "../ui.js";
import {rememberModel, settings} from "./parameters.js";
import {refusal} from "./stream.js";

const strings = uiStrings();
const modelSelect = document.getElementById("playground-model");
const modelField = document.getElementById("model-field");
const modelStatus = document.getElementById("model-status");
const noModel = document.getElementById("no-model");

let models = null; // ids of the ready models, once listed
let onListed = function () {};

/* Whether any model is ready to chat with. */
export function hasModels() {
  return models !== null && models.length > 0;
}

/* The model picked, "" for none. */
export function chosenModel() {
  return modelSelect.value;
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
  onListed();
}

/* A list that could not be read: say why; a list shown before stays usable. */
function modelsFailed(message) {
  modelStatus.textContent = fill(strings.modelsFailed, {message: message});
  if (models === null) {
    modelField.hidden = true; // nothing to pick from, not even "Loading"
  }
}

async function loadModels(url) {
  let response;
  try {
    response = await apiFetch(url, {cache: "no-store"});
  } catch (error) {
    modelsFailed(strings.networkError);
    return;
  }
  if (!response.ok) {
    modelsFailed(await refusal(response));
    return;
  }
  try {
    const data = await response.json();
    showModels((data.data || []).map(function (model) { return String(model.id); }));
  } catch (error) {
    modelsFailed(strings.unreadable);
  }
}

/* Lists the models now and then every poll interval; `listed` runs after each list is shown. */
export function startModels(root, listed) {
  onListed = listed;
  modelSelect.addEventListener("change", function () {
    rememberModel(modelSelect.value);
  });
  const url = root.dataset.apiBase + "/models";
  pollEvery(pollInterval(root), function () { return loadModels(url); }).now();
}
