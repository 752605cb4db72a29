// Small progressive enhancements for the server-rendered pages. Everything works without them.

// Ask before a destructive action (buttons with data-confirm).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});

// Filters that apply as soon as a choice is made.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) {
    event.target.form.requestSubmit();
  }
});

// A form sent twice by an impatient double tap on a slow network: disable its buttons once sent.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.sending) {
    event.preventDefault();
    return;
  }
  form.dataset.sending = "1";
  setTimeout(() => delete form.dataset.sending, 5000);
});
