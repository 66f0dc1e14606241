// Progressive enhancement for every page: "Copy ARN" buttons appear only where a
// script can copy (the full ARN is in the title and the page's text either way).
(function () {
  "use strict";
  if (!navigator.clipboard) return;
  var buttons = document.querySelectorAll("button.copy[data-copy]");
  for (var i = 0; i < buttons.length; i++) {
    var button = buttons[i];
    button.hidden = false;
    button.addEventListener("click", function (event) {
      var target = event.currentTarget;
      navigator.clipboard.writeText(target.dataset.copy).then(function () {
        target.textContent = "Copied";
        setTimeout(function () { target.textContent = "Copy ARN"; }, 2000);
      });
    });
  }
})();
