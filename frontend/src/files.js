// The workspace files editor: a list, a text area, Save (Ctrl-S), New and Delete.
export function setupFiles(root, csrf, labels) {
  const list = root.querySelector("[data-files-list]");
  const editor = root.querySelector("[data-files-editor]");
  const nameField = root.querySelector("[data-files-name]");
  const status = root.querySelector("[data-files-status]");
  const base = root.dataset.filesUrl;
  let current = null;

  const say = (text, error = false) => { status.textContent = text; status.classList.toggle("error", error); };

  async function request(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  async function refresh(select) {
    const data = await request("GET", base);
    list.replaceChildren(...data.files.map((file) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = file.name;
      button.addEventListener("click", () => open(file.name));
      item.append(button);
      return item;
    }));
    if (!data.files.length) list.innerHTML = `<li class="muted">${labels.empty}</li>`;
    if (select) await open(select);
  }

  async function open(name) {
    const data = await request("GET", base + encodeURIComponent(name));
    current = name;
    nameField.value = name;
    editor.value = data.content;
    say("");
  }

  async function save() {
    const name = nameField.value.trim();
    try {
      await request("PUT", base + encodeURIComponent(name), { content: editor.value });
      current = name;
      say(labels.saved);
      await refresh();
    } catch (err) { say(err.message, true); }
  }

  root.querySelector("[data-files-save]").addEventListener("click", save);
  root.querySelector("[data-files-new]").addEventListener("click", () => {
    current = null; nameField.value = ""; editor.value = ""; nameField.focus(); say("");
  });
  root.querySelector("[data-files-delete]").addEventListener("click", async () => {
    if (!current || !confirm(labels.confirmDelete.replace("%s", current))) return;
    try { await request("DELETE", base + encodeURIComponent(current)); current = null; editor.value = ""; nameField.value = ""; await refresh(); }
    catch (err) { say(err.message, true); }
  });
  editor.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") { event.preventDefault(); save(); }
    if (event.key === "Tab") { // a tab key inserts two spaces (YAML) instead of leaving the field
      event.preventDefault();
      editor.setRangeText("  ", editor.selectionStart, editor.selectionEnd, "end");
    }
  });
  refresh().catch((err) => say(err.message, true));
  return { refresh, open };
}
