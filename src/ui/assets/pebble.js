// Pebble's only script, and nothing depends on it: every page works without it.
// "/" jumps to the page's search field; forms with data-confirm ask first.
"use strict";
document.addEventListener("keydown", function (e) {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  var t = e.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  var search = document.querySelector("[data-search]");
  if (search) { e.preventDefault(); search.focus(); }
});
document.addEventListener("submit", function (e) {
  var message = e.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) e.preventDefault();
});
