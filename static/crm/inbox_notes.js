// Private notes: Ctrl/Cmd+Enter saves the note; typing "@" offers nothing yet, the username
// is typed in full (an unknown name stays plain text and notifies nobody).
(function () {
  var text = document.getElementById("note-text");
  if (!text) return;
  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && text.value.trim()) {
      event.preventDefault();
      document.getElementById("note-form").submit();
    }
  });
})();
