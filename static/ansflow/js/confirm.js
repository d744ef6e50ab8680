// A form whose action is hard to undo asks first: <form data-confirm="Delete pod web-1?">.
// Cancelling the dialog sends nothing. Listens in the capture phase, before any other submit handler.
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);
