/* Log lines as table rows: the time in this browser's time zone (the exact instant in <time
 * datetime> and its title), the level as a badge (its word, not only its colour), logger, message
 * (kept as logged: spaces and line breaks), and the request id linking to that request's page.
 */

export function timeFormatter(lang) {
  return new Intl.DateTimeFormat(lang, {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
                                        minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3,
                                        hour12: false});
}

/* A key telling one line from another, for follow mode's "already shown". */
export function lineKey(line) {
  return [line.at, line.level, line.logger, line.message, line.request_id || ""].join("\u0000");
}

function cell(tag, className, text) {
  const element = document.createElement(tag);
  if (className) {
    element.className = className;
  }
  if (text !== undefined) {
    element.textContent = text;
  }
  return element;
}

/* One <tr>. `options`: {format (timeFormatter), levels ({level: word}), requestLink ("…/__ID__" or
 * null for no request column), requestLabel ("Request %(id)s")}. */
/* A level's badge, in the tones the status badges already have. */
const LEVEL_TONES = {debug: "available", info: "registered", warning: "pending", error: "error"};

export function lineRow(line, options) {
  const row = document.createElement("tr");
  row.className = "log-line log-line--" + line.level;
  const when = cell("td", "log-line__time nowrap");
  const time = document.createElement("time");
  time.dateTime = line.at;
  time.title = line.at;
  const parsed = Date.parse(line.at);
  time.textContent = Number.isNaN(parsed) ? line.at : options.format.format(new Date(parsed));
  when.append(time);
  const level = cell("td");
  level.append(cell("span", "badge badge--" + (LEVEL_TONES[line.level] || "available"),
                    options.levels[line.level] || line.level));
  const logger = cell("td", "log-line__logger mono");
  (line.logger || "").split(".").forEach(function (part, index) { // a long dotted name breaks after a dot
    if (index > 0) {
      logger.append(".", document.createElement("wbr"));
    }
    logger.append(part);
  });
  row.append(when, level, logger, cell("td", "log-line__message mono", line.message || ""));
  if (options.requestLink !== null) {
    const request = cell("td", "log-line__request mono");
    if (line.request_id) {
      const link = cell("a", null, line.request_id);
      link.href = options.requestLink.replace("__ID__", encodeURIComponent(line.request_id));
      link.setAttribute("aria-label", options.requestLabel.replace("%(id)s", line.request_id));
      request.append(link);
    }
    row.append(request);
  }
  return row;
}
