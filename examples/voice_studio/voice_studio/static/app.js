// Voice Studio's pages: plain JavaScript over the JSON API in app.py.
"use strict";

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error || { code: "http_" + response.status, message: JSON.stringify(body.detail || body) };
    throw Object.assign(new Error(error.message), { code: error.code, status: response.status });
  }
  return body;
}

function say(element, text, kind) {
  element.textContent = text;
  element.className = kind || "";
}

function failure(error) {
  return `${error.message} (${error.code}${error.status ? ", HTTP " + error.status : ""})`;
}

async function fillLanguages(select, operation, preferred) {
  const options = await api(`/api/languages?operation=${operation}`);
  select.replaceChildren(
    ...options.map((o) => {
      const quality = o.quality === "approximate" ? ", approximate" : "";
      const label = o.code === "auto" ? "Auto (detect from the text)" : `${o.name} (${o.providers.join(", ")}${quality})`;
      return new Option(label, o.code, false, o.code === preferred);
    }),
  );
}

async function showProviders() {
  const providers = await api("/api/providers");
  const usable = providers.filter((p) => p.configured && p.selected);
  $("providers").textContent = usable.length
    ? "Speaking with: " + usable.map((p) => `${p.id} (${p.quality}${p.license ? "; " + p.license : ""})`).join(", ")
    : "No provider is configured";
}

function facts(dl, g) {
  const rows = [
    ["Provider", `${g.provider} / ${g.model}`],
    ["Mode", g.mode],
    ["Quality", g.quality],
    ["Language", g.language + (g.language_detected ? " (detected)" : "")],
    ["Duration", `${g.duration.toFixed(2)} s`],
  ];
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    dd.dataset.fact = k.toLowerCase();
    return [dt, dd];
  }));
}

function list(ul, items) {
  ul.replaceChildren(...items.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

// -- clone -------------------------------------------------------------------------------------

async function clonePage() {
  await fillLanguages($("language"), "clone", "auto");
  let recorded = null;
  let recorder = null;

  async function showVoices() {
    const voices = await api("/api/voices");
    list($("voices"), voices.map((v) => `${v.name} (${v.language}${v.transcript ? ", with transcript" : ""})`));
  }

  $("record-start").onclick = async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "";
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    const parts = [];
    recorder.ondataavailable = (event) => parts.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      recorded = new Blob(parts, { type: recorder.mimeType });
      $("recorded").src = URL.createObjectURL(recorded);
      $("recorded").hidden = false;
      say($("record-state"), `Recorded ${(recorded.size / 1024).toFixed(0)} KB (${recorder.mimeType})`, "ok");
    };
    recorder.start();
    $("record-start").disabled = true;
    $("record-stop").disabled = false;
    say($("record-state"), "Recording…");
  };
  $("record-stop").onclick = () => {
    recorder.stop();
    $("record-start").disabled = false;
    $("record-stop").disabled = true;
  };

  $("clone-form").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData();
    form.append("name", $("name").value);
    form.append("transcript", $("transcript").value);
    form.append("language", $("language").value);
    const file = $("audio").files[0];
    if (file) form.append("audio", file);
    else if (recorded) form.append("audio", recorded, recorded.type.includes("mp4") ? "recording.m4a" : "recording.webm");
    else return say($("clone-result"), "Choose a file or record yourself first.", "error");
    $("clone-submit").disabled = true;
    say($("clone-result"), "Checking the recording…");
    try {
      const voice = await api("/api/clone", { method: "POST", body: form });
      await showVoices(); // the list shows the new voice before the page says it is saved
      say($("clone-result"), `Saved voice “${voice.name}”. Generate with it on the Generate page.`, "ok");
      $("clone-result").dataset.voiceId = voice.id;
    } catch (error) {
      say($("clone-result"), failure(error), "error");
    } finally {
      $("clone-submit").disabled = false;
    }
  };
  await showVoices();
}

// -- design ------------------------------------------------------------------------------------

async function designPage() {
  await fillLanguages($("design-language"), "design", "auto");
  let preview = null;
  $("design-form").onsubmit = async (event) => {
    event.preventDefault();
    $("design-submit").disabled = true;
    say($("design-status"), "Designing…");
    try {
      preview = await api("/api/design", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: $("design-text").value, instruct: $("instruct").value, language: $("design-language").value }),
      });
      $("design-player").src = preview.audio_url;
      facts($("design-facts"), preview);
      $("design-result").hidden = false;
      say($("design-status"), "Listen, then keep it if you like it.", "ok");
    } catch (error) {
      say($("design-status"), failure(error), "error");
    } finally {
      $("design-submit").disabled = false;
    }
  };
  $("save-voice").onclick = async () => {
    try {
      const voice = await api("/api/voices/from-generation", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ generation_id: preview.id, name: $("design-name").value || "Designed voice" }),
      });
      say($("save-result"), `Saved voice “${voice.name}”.`, "ok");
    } catch (error) {
      say($("save-result"), failure(error), "error");
    }
  };
}

// -- generate ----------------------------------------------------------------------------------

async function generatePage() {
  const voices = await api("/api/voices");
  $("voice").replaceChildren(...voices.map((v) => new Option(v.name, v.id)));
  await fillLanguages($("gen-language"), "clone", "auto");

  async function showHistory() {
    const rows = (await api("/api/generations")).filter((g) => g.voice_id);
    $("history").replaceChildren(...rows.map((g) => {
      const tr = document.createElement("tr");
      for (const value of [g.text.slice(0, 60), g.provider, g.mode, g.language, g.duration.toFixed(2)]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.append(td);
      }
      return tr;
    }));
  }

  $("generate-form").onsubmit = async (event) => {
    event.preventDefault();
    $("generate-submit").disabled = true;
    $("result").hidden = true;
    say($("generate-status"), "Starting…");
    try {
      const started = await api("/api/generate", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ voice_id: $("voice").value, text: $("text").value, language: $("gen-language").value }),
      });
      say($("generate-status"), `Speaking with ${started.provider}…`);
      const progress = $("progress");
      progress.hidden = false;
      let job;
      for (;;) {
        job = await api(`/api/jobs/${started.job_id}`);
        progress.max = job.total;
        progress.value = job.done;
        if (job.status === "done" || job.status === "failed") break;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      progress.hidden = true;
      if (job.status === "failed") throw Object.assign(new Error(job.error.message), job.error);
      const g = job.generation;
      $("player").src = g.audio_url;
      facts($("facts"), g);
      list($("reasons"), g.reasons);
      list($("warnings"), g.warnings);
      $("result").hidden = false;
      await showHistory();
      say($("generate-status"), "Done.", "ok");
    } catch (error) {
      say($("generate-status"), failure(error), "error");
    } finally {
      $("generate-submit").disabled = false;
    }
  };
  await showHistory();
}

const pages = { clone: clonePage, design: designPage, generate: generatePage };
showProviders().catch(() => {});
pages[document.body.dataset.page]().catch((error) => console.error(error));
