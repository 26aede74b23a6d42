// The live inbox (crm/live.py): events over a WebSocket, unread counts per tab, a browser
// notification when a conversation is assigned to me. While the socket cannot connect, the page
// falls back to polling: this file asks for the events after its last id every few seconds, and
// the pages' own fragment refresh runs (it checks window.inboxLive.connected).
(function () {
  "use strict";
  var root = document.getElementById("inbox-live");
  if (!root || window.inboxLive) return;
  var POLL_MS = 5000, DEBOUNCE_MS = 300, LIMIT = 500;
  var me = Number(root.dataset.me);
  var conversation = Number(root.dataset.conversation || 0);
  var live = window.inboxLive = { connected: false, last: null, notified: [], applied: 0 };
  var seen = {};
  var socket = null, backoff = 1000, pollTimer = null, timers = {};

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  // Run fn now, then at most once per `ms` however many events come (once more at the end).
  function later(name, fn, ms) {
    if (timers[name]) { timers[name].again = true; return; }
    fn();
    var timer = timers[name] = { again: false };
    setTimeout(function () {
      timers[name] = null;
      if (timer.again) later(name, fn, ms);
    }, ms);
  }

  function setStatus() {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.textContent = live.connected ? el.dataset.live : el.dataset.polling;
    el.className = "live-status" + (live.connected ? " live" : "");
  }

  function setUnread(unread) {
    if (!unread) return;
    live.unread = unread;
    ["mine", "unassigned", "all"].forEach(function (tab) {
      var link = document.getElementById("tab-" + tab);
      if (!link) return;
      var badge = link.querySelector(".unread-badge");
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "unread-badge";
        badge.id = "unread-" + tab;
        link.appendChild(badge);
      }
      badge.textContent = String(unread[tab]);
      badge.hidden = !unread[tab];
    });
    var title = document.title.replace(/^\(\d+\) /, "");
    document.title = (unread.mine ? "(" + unread.mine + ") " : "") + title;
  }

  function toast(text) {
    var el = document.getElementById("live-toast");
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    clearTimeout(live.toastTimer);
    live.toastTimer = setTimeout(function () { el.hidden = true; }, 8000);
  }

  function notifyAssigned(event) {
    var title = root.dataset.assignedTitle, body = root.dataset.assignedBody;
    live.notified.push({ title: title, conversation: event.conversation });
    toast(title);
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var n = new Notification(title, { body: body, tag: "assigned-" + event.conversation });
    n.onclick = function () { window.focus(); location.href = "/inbox/" + event.conversation + "/"; };
  }

  function refreshFragment(id, url) {
    var el = document.getElementById(id);
    if (!el) return;
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        el.innerHTML = html;
        if (id === "thread") el.scrollTop = el.scrollHeight;
      });
  }

  function refreshRows() {
    var table = document.getElementById("conversation-list");
    if (table) refreshFragment("conversation-rows", table.dataset.refresh);
  }

  function refreshThread() {
    var thread = document.getElementById("thread");
    if (thread) refreshFragment("thread", thread.dataset.refresh);
  }

  function refreshHeader() {
    // Status and assignee as the page itself shows them now.
    fetch(location.pathname, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["conversation-status", "assignee"].forEach(function (id) {
          var now = doc.getElementById(id), here = document.getElementById(id);
          if (now && here) { here.outerHTML = now.outerHTML; }
        });
      });
  }

  function markRead() {
    if (!root.dataset.read || document.visibilityState === "hidden") return;
    fetch(root.dataset.read, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) setUnread(data.unread); });
  }

  function apply(events) {
    events.forEach(function (event) {
      if (seen[event.id]) return;
      seen[event.id] = true;
      live.applied += 1;
      if (live.last === null || event.id > live.last) live.last = event.id;
      if (event.kind === "assigned" && event.assignee === me && event.by !== me) notifyAssigned(event);
      later("rows", refreshRows, DEBOUNCE_MS);
      if (conversation && event.conversation === conversation) {
        later("thread", refreshThread, DEBOUNCE_MS);
        if (event.kind !== "message") later("header", refreshHeader, DEBOUNCE_MS);
        if (event.kind === "message" && event.direction === "in") later("read", markRead, 1000);
      }
    });
    if (events.length) later("unread", catchUp, 1000);
  }

  // The events after the last id this page saw (all of them: the page asks again while a full
  // answer comes back), and the unread counts.
  function catchUp() {
    var url = root.dataset.events + (live.last === null ? "" : "?after=" + live.last);
    return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (data.reload) { window.location.reload(); return; } // away longer than events are kept
        if (live.last === null) live.last = data.last;
        else apply(data.events);
        setUnread(data.unread);
        if (data.events.length >= LIMIT) return catchUp();
      });
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(catchUp, POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    if (!("WebSocket" in window)) { startPolling(); return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var reconnect = live.everConnected;
    try {
      socket = new WebSocket(scheme + location.host + root.dataset.ws);
    } catch (e) {
      startPolling();
      return;
    }
    socket.onopen = function () {
      live.connected = live.everConnected = true;
      backoff = 1000;
      stopPolling();
      setStatus();
      // What happened while the socket was down (or since the page was drawn).
      catchUp().then(function () { if (reconnect) { refreshRows(); refreshThread(); } });
    };
    socket.onmessage = function (message) {
      var data = JSON.parse(message.data);
      if (data.events) apply(data.events);
    };
    socket.onclose = function (event) {
      live.connected = false;
      socket = null;
      setStatus();
      startPolling();
      if (event.code === 4403) return; // refused: signed out, or no inbox permission
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }

  // Chromium asks for the notification permission only after a click.
  document.addEventListener("click", function ask() {
    document.removeEventListener("click", ask);
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
  });
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") markRead(); });

  setStatus();
  catchUp().then(function () { markRead(); connect(); });
})();
