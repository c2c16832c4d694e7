/* The conditions editor: an ordered list of rows (field, comparison, value), each in its own
 * fieldset named "Condition N", with a Remove button. Adding a row moves the focus to its first
 * control; removing one moves it to the next row (or to "Add condition"), and both are announced.
 * A row can show an error from the server (an invalid regular expression) on its value field.
 */
import {announce, fill} from "../ui.js";

export function conditionsEditor(options) {
  const list = options.list;
  const template = options.template;
  const addButton = options.addButton;
  const empty = options.empty;
  const strings = options.strings;
  let serial = 0;

  function rows() {
    return Array.from(list.children);
  }

  function renumber() {
    rows().forEach(function (row, index) {
      const num = String(index + 1);
      row.querySelector("[data-legend]").textContent = fill(strings.condition, {num: num});
      row.querySelector("[data-remove-label]").textContent = strings.remove;
      row.querySelector("[data-remove]").setAttribute("aria-label", fill(strings.removeCondition, {num: num}));
    });
    empty.hidden = list.children.length > 0;
  }

  function add(condition) {
    serial += 1;
    const row = template.content.firstElementChild.cloneNode(true);
    const prefix = "condition-" + serial;
    row.dataset.focusKey = prefix;
    for (const part of ["field", "op", "value"]) {
      const control = row.querySelector('[data-part="' + part + '"]');
      control.id = prefix + "-" + part;
      row.querySelector('[data-for="' + part + '"]').htmlFor = control.id;
    }
    const error = row.querySelector("[data-error]");
    error.id = prefix + "-error";
    const value = row.querySelector('[data-part="value"]');
    if (condition) {
      row.querySelector('[data-part="field"]').value = condition.field;
      row.querySelector('[data-part="op"]').value = condition.op;
      value.value = condition.value;
    }
    value.addEventListener("input", function () { clearError(row); });
    row.querySelector("[data-remove]").addEventListener("click", function () { remove(row); });
    list.append(row);
    renumber();
    return row;
  }

  function remove(row) {
    const index = rows().indexOf(row);
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber();
    (next ? next.querySelector('[data-part="field"]') : addButton).focus();
    announce(fill(strings.conditionRemoved, {num: String(index + 1)}));
  }

  function clearError(row) {
    const value = row.querySelector('[data-part="value"]');
    value.removeAttribute("aria-invalid");
    value.removeAttribute("aria-describedby");
    row.querySelector("[data-error]").textContent = "";
  }

  addButton.addEventListener("click", function () {
    const row = add(null);
    row.querySelector('[data-part="field"]').focus();
    announce(fill(strings.conditionAdded, {num: String(list.children.length)}));
  });

  return {
    /* The rows as {field, op, value}, in order. */
    read: function () {
      return rows().map(function (row) {
        return {field: row.querySelector('[data-part="field"]').value,
                op: row.querySelector('[data-part="op"]').value,
                value: row.querySelector('[data-part="value"]').value};
      });
    },
    /* Replaces every row. */
    set: function (conditions) {
      list.replaceChildren();
      conditions.forEach(add);
      renumber();
    },
    clearErrors: function () {
      rows().forEach(clearError);
    },
    /* Marks row `index`'s value as invalid with `message`; returns the field (null for no such row). */
    showError: function (index, message) {
      const row = rows()[index];
      if (!row) {
        return null;
      }
      const value = row.querySelector('[data-part="value"]');
      const error = row.querySelector("[data-error]");
      error.textContent = message;
      value.setAttribute("aria-invalid", "true");
      value.setAttribute("aria-describedby", error.id);
      return value;
    },
  };
}
