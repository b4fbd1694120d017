// Live updates: the server sends rendered, escaped fragments over Server-Sent Events;
// this only puts each one in its place (by id, newest first). No other code builds HTML.
"use strict";
(function () {
  const LIMITS = { txs: 200, blocks: 50, nodes: 64 };

  function place(message) {
    const container = document.getElementById(message.target);
    if (!container) return;
    const holder = document.createElement(message.target === "txs" ? "tbody" : "ul");
    holder.innerHTML = message.html; // escaped on the server (devnet/explorer/render.py)
    const fresh = holder.firstElementChild;
    if (!fresh) return;
    fresh.dataset.order = String(message.order);
    const existing = document.getElementById(message.id);
    if (existing) {
      existing.replaceWith(fresh);
      return;
    }
    let before = null;
    for (const child of container.children) {
      if (Number(child.dataset.order) < message.order) { before = child; break; }
    }
    container.insertBefore(fresh, before);
    while (container.children.length > LIMITS[message.target]) container.lastElementChild.remove();
  }

  function connect() {
    const live = document.getElementById("live");
    const source = new EventSource("/events");
    source.addEventListener("open", () => { live.textContent = "live"; live.className = "up"; });
    source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "down"; });
    source.addEventListener("upsert", (e) => place(JSON.parse(e.data)));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
})();
