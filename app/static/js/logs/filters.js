/* Saved filters (GET/POST /v0/log-filters, DELETE /v0/log-filters/<id>): pick one and apply it to
 * the current tab, delete it, or save the current filter under a name. Errors are shown next to the
 * control they are about (a duplicate name, 409, under the name field) and announced.
 */
import {announce, apiFetch, fill, readError, readJson} from "../ui.js";

export function savedFilters(options) {
  const base = options.apiBase + "/log-filters";
  const strings = options.strings;
  const select = document.getElementById("saved-filter");
  const pick = document.getElementById("saved-pick");
  const empty = document.getElementById("saved-empty");
  const savedError = document.getElementById("saved-error");
  const form = document.getElementById("save-filter-form");
  const name = document.getElementById("filter-name");
  const nameError = document.getElementById("filter-name-error");
  const hintId = "filter-name-hint";
  let filters = [];

  function label(filter) {
    const mine = !filter.owner || filter.owner === options.username;
    return mine ? filter.name : fill(strings.filterOption, {name: filter.name, owner: filter.owner});
  }

  function render(selectedId) {
    select.replaceChildren(...filters.map(function (filter) {
      const option = document.createElement("option");
      option.value = String(filter.id);
      option.textContent = label(filter);
      return option;
    }));
    if (selectedId !== undefined && filters.some(function (f) { return String(f.id) === String(selectedId); })) {
      select.value = String(selectedId);
    }
    pick.hidden = filters.length === 0;
    empty.hidden = filters.length > 0;
  }

  function selected() {
    return filters.find(function (filter) { return String(filter.id) === select.value; }) || null;
  }

  function setNameError(message) {
    nameError.textContent = message || "";
    if (message) {
      name.setAttribute("aria-invalid", "true");
      name.setAttribute("aria-describedby", hintId + " " + nameError.id);
    } else {
      name.removeAttribute("aria-invalid");
      name.setAttribute("aria-describedby", hintId);
    }
  }

  async function load(selectedId) {
    try {
      const response = await apiFetch(base);
      if (!response.ok) {
        savedError.textContent = fill(strings.filtersFailed, {message: (await readError(response, String(response.status))).message});
        return;
      }
      const data = await readJson(response);
      filters = (data && data.filters) || [];
      render(selectedId);
    } catch (error) {
      savedError.textContent = fill(strings.filtersFailed, {message: strings.networkError});
    }
  }

  document.getElementById("apply-filter").addEventListener("click", function () {
    const filter = selected();
    if (filter) {
      savedError.textContent = "";
      options.apply(filter.query);
      announce(fill(strings.applied, {name: filter.name}));
    }
  });

  document.getElementById("delete-filter").addEventListener("click", async function () {
    const filter = selected();
    if (!filter) {
      return;
    }
    savedError.textContent = "";
    try {
      const response = await apiFetch(base + "/" + encodeURIComponent(filter.id), {method: "DELETE"});
      if (!response.ok && response.status !== 404) {
        savedError.textContent = (await readError(response, String(response.status))).message;
        select.focus();
        return;
      }
    } catch (error) {
      savedError.textContent = strings.networkError;
      return;
    }
    await load();
    (filters.length ? select : name).focus();
    announce(fill(strings.deleted, {name: filter.name}));
  });

  name.addEventListener("input", function () { setNameError(""); });

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const wanted = name.value.trim();
    if (!wanted) {
      setNameError(strings.nameRequired);
      name.focus();
      return;
    }
    setNameError("");
    try {
      const response = await apiFetch(base, {method: "POST", json: {name: wanted, query: options.current()}});
      if (!response.ok) {
        const problem = await readError(response, String(response.status));
        setNameError(problem.message);
        name.focus();
        return;
      }
      const created = await readJson(response);
      name.value = "";
      await load(created && created.id);
      announce(fill(strings.saved, {name: wanted}));
    } catch (error) {
      setNameError(strings.networkError);
    }
  });

  load();
}
