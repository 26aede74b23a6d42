// The inbox's picture / voice sending: refuse a wrong type or a file over WeChat's limit before
// uploading (the server checks again, content included).
(function () {
  var form = document.getElementById("media-form");
  if (!form) return;
  var kind = document.getElementById("media-kind");
  var file = document.getElementById("media-file");
  var error = document.getElementById("media-error");
  var rules = {
    image: {max: 10 * 1024 * 1024, ext: ["jpg", "jpeg", "png"]},
    voice: {max: 2 * 1024 * 1024, ext: ["amr", "mp3"]}
  };
  kind.addEventListener("change", function () {
    file.accept = rules[kind.value].ext.map(function (e) { return "." + e; }).join(",");
  });
  form.addEventListener("submit", function (event) {
    var chosen = file.files[0];
    var rule = rules[kind.value];
    error.textContent = "";
    if (!chosen) { event.preventDefault(); error.textContent = form.dataset.none; return; }
    var ext = chosen.name.split(".").pop().toLowerCase();
    if (rule.ext.indexOf(ext) < 0 || chosen.size > rule.max) {
      event.preventDefault();
      error.textContent = form.dataset.refused + " " + rule.ext.join("/") + " ≤ " + (rule.max / 1024 / 1024) + " MB";
    }
  });
})();
