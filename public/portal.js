// Gatehouse portal: the only script, and an optional one (every page works without it).
// - [data-copy=ID]: copies the text of element ID to the clipboard.
// - form[data-confirm]: asks before submitting.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.value ?? source.textContent;
  const done = (message) => {
    const status = document.getElementById(button.dataset.copy + "-status");
    if (status) status.textContent = message;
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => done("Copied."), () => done("Could not copy: select the text and copy it."));
  } else {
    source.select?.();
    done(document.execCommand("copy") ? "Copied." : "Select the text and copy it.");
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
