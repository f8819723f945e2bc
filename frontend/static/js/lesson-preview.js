// The lesson preview reloads itself when the lesson's folder changes: it asks the server for
// the folder's fingerprint every second (a content hash) and reloads on a new one. Polling is
// plain and survives anything: a server restart, a broken lesson, a lost connection (it simply
// asks again). Only while the tab is visible, so a forgotten tab costs nothing.
(function () {
  "use strict";
  const root = document.getElementById("lesson-preview");
  if (!root) return;
  const url = root.dataset.fingerprintUrl;
  const shown = root.dataset.fingerprint;
  let busy = false;

  async function poll() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
      if (response.ok) {
        const { fingerprint } = await response.json();
        if (fingerprint && fingerprint !== shown) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // The server is away (restarting after the author's change, perhaps): ask again later.
    } finally {
      busy = false;
    }
  }
  window.setInterval(poll, 1000);
})();
