/* Users and API Keys pages: confirmation dialogs and the Copy button of a new key.
 *
 * Everything else on these pages is a plain HTML form. A button with data-opens-dialog="<id>" opens
 * that <dialog>, whose form does the change; Cancel or Escape closes it and focus goes back to the
 * button. Every sentence shown comes from the page (data attributes), translated there.
 */
import {say, writeClipboard} from "./ui.js";

const openers = new WeakMap();

document.addEventListener("click", function (event) {
  const opener = event.target.closest("[data-opens-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.opensDialog);
    if (dialog && !dialog.open) {
      openers.set(dialog, opener);
      dialog.showModal();
    }
    return;
  }
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) {
    closer.closest("dialog").close();
  }
});

for (const dialog of document.querySelectorAll("dialog")) {
  dialog.addEventListener("close", function () {
    const opener = openers.get(dialog);
    if (opener && document.contains(opener)) {
      opener.focus();
    }
  });
}

// --- Copying a new API key ----------------------------------------------------------------

const copyButton = document.getElementById("copy-key");
if (copyButton) {
  const field = document.getElementById(copyButton.dataset.copyTarget);
  const status = document.getElementById("copy-status");

  copyButton.addEventListener("click", async function () {
    // Refused (permissions), or no Clipboard API: fall back to selecting the text.
    let copied = await writeClipboard(field.value);
    if (!copied) {
      field.focus();
      field.select();
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
    }
    // Emptied first (say) so that pressing Copy twice announces twice.
    say(status, copied ? copyButton.dataset.copied : copyButton.dataset.selectHint);
  });
  // Shown (and focused: Enter copies at once) only once it works; without the script the field
  // itself has the focus, ready for Ctrl+C.
  copyButton.hidden = false;
  copyButton.focus();
}
