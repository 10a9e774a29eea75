// After the applications' logout pages (the frames) have loaded, go on to where the application asked.
window.addEventListener("load", function () {
  var link = document.getElementById("continue");
  if (link) { window.location.assign(link.href); }
});
