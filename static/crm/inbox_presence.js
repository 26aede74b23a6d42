// The agent's presence in the inbox (crm.inbox.teams.presence): a heartbeat while any inbox
// page is open; the server counts the agent offline once heartbeats stop for its TTL (the page
// was closed), so closing the tab needs nothing from this script.
(function () {
  var box = document.getElementById("presence-box");
  var url = box ? box.dataset.url : "/inbox/presence/";
  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function post(status) {
    var body = new URLSearchParams();
    if (status) body.set("status", status);
    return fetch(url, {method: "POST", credentials: "same-origin", body: body,
                       headers: {"X-CSRFToken": csrf()}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        // The server's answer is the presence: the dot and the select both show it (the page
        // was rendered offline before its first heartbeat brought the agent online).
        var state = document.getElementById("presence-state");
        if (data && state) { state.className = "presence-" + data.status; }
        var chosen = document.getElementById("presence");
        if (data && chosen) { chosen.value = data.status; }
        return data;
      });
  }
  var select = document.getElementById("presence");
  if (select) select.addEventListener("change", function () { post(select.value); });
  var every = 20000;
  post("").then(function (data) {
    if (data && data.ttl) every = Math.max(5000, Math.floor(data.ttl * 1000 / 3));
    setInterval(function () { post(""); }, every);
  });
})();
