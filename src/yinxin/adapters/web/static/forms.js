// Every form of this site is sent by its page's script, through the API (api.js bindForm, which
// marks the form data-bound). Until that script has run — a module, loaded after the page is
// shown — the browser would send a form itself on Enter or a click: a GET to the page's own
// address with every field in the query (a password, a PIN: in the address bar, the history,
// a proxy's log) and nothing done. Loaded as a plain script in the head, before any form
// exists, this stops every submission no script has stopped: what was typed stays, and a form
// not yet taken by its script says to wait.
document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (ev.defaultPrevented) return; // the page's script has it
  ev.preventDefault();
  if (form.dataset.bound) return;
  const box = form.querySelector(".form-error");
  if (box) {
    box.textContent = "页面正在加载，请稍候再提交";
    box.hidden = false;
  }
});
