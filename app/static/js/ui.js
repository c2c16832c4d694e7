/* Helpers shared by the dashboard's page scripts; loaded (deferred) before them. */
window.LLMRouterUI = (function () {
  "use strict";

  /* Fills "%(name)s" placeholders, as Flask-Babel leaves them in the page's translated strings. */
  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
    });
  }

  /* Sets a live region's text. Emptied first so that the same sentence twice in a row is announced twice. */
  function say(element, message) {
    element.textContent = "";
    window.setTimeout(function () { element.textContent = message; }, 50);
  }

  /* A key that finds "the same" control again after its part of the page is re-rendered: its
   * data-focus-key, else "#" + its id; null for nothing worth finding. */
  function focusKey(element) {
    if (!element || element === document.body) {
      return null;
    }
    if (element.dataset && element.dataset.focusKey) {
      return element.dataset.focusKey;
    }
    return element.id ? "#" + element.id : null;
  }

  function findByKey(key) {
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
  function swapKeepingFocus(container, html) {
    const active = document.activeElement;
    const hadFocus = active !== null && active !== container && container.contains(active);
    const key = hadFocus ? focusKey(active) : null;
    container.innerHTML = html;
    if (hadFocus) {
      const target = findByKey(key);
      (target && container.contains(target) ? target : container).focus({preventScroll: true});
    }
  }

  /* Runs `task` (which may return a promise) `ms` after its last run ended (`ms` may be a function,
   * asked each time), while the tab is visible:
   * a hidden tab sends no requests, and a tab shown again runs it at once. `now(other)` runs `other`
   * (or `task`) at once and starts the wait again after it. */
  function pollEvery(ms, task) {
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

  return {fill: fill, say: say, focusKey: focusKey, findByKey: findByKey, swapKeepingFocus: swapKeepingFocus,
          pollEvery: pollEvery};
})();
