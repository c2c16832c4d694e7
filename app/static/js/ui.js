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

  return {fill: fill, say: say};
})();
