// Videos on the page (issue 15): choose a video, follow its job (POST /api/videos, then
// GET /api/videos/{id} every second: frames, fps, time left), cancel it (DELETE), and
// play and download the result (/api/videos/{id}/result). The section shows only when the
// server can colorize videos (/api/health "videos": true). The photo tools are app.js's.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let job = null;       // the job on screen: {id, timer}

  function show(state) {
    const box = $("video-box");
    box.dataset.state = state.status || "idle";
    const total = state.total || 0;
    $("video-progress").max = total || 1;
    $("video-progress").value = state.frames || 0;
    const parts = [];
    if (state.status === "queued") parts.push("waiting for its turn");
    if (state.status === "running") {
      parts.push(total ? `frame ${state.frames} of ${total}` : `frame ${state.frames}`);
      if (state.fps) parts.push(`${state.fps.toFixed(1)} fps`);
      if (state.eta_s != null) parts.push(`${Math.ceil(state.eta_s)} s left`);
    }
    if (state.status === "done") parts.push(`done: ${state.frames} frames`);
    if (state.status === "cancelled") parts.push("cancelled");
    $("video-status").textContent = parts.join(", ");
    $("video-cancel").hidden = !(state.status === "queued" || state.status === "running");
    $("video-progress").hidden = !(state.status === "queued" || state.status === "running");
    const err = $("video-error");
    err.hidden = !state.error;
    err.textContent = state.error ? `Could not colorize this video: ${state.error}` : "";
    $("video-notes").hidden = !(state.notes && state.notes.length);
    $("video-notes").textContent = (state.notes || []).join("; ");
  }

  async function poll() {
    if (!job) return;
    const r = await fetch(`/api/videos/${job.id}`);
    const state = await r.json();
    if (!r.ok) { stop(); show({ status: "failed", error: state.error }); return; }
    show(state);
    if (state.status === "done") {
      stop();
      const url = `/api/videos/${state.id}/result`;
      const player = $("video-player");
      player.src = url;
      player.hidden = false;
      const link = $("video-download");
      link.href = url;
      link.hidden = false;
    } else if (state.status === "failed" || state.status === "cancelled") {
      stop();
    }
  }

  function stop() {
    if (job && job.timer) clearInterval(job.timer);
    if (job) job.timer = null;
  }

  async function submit(file) {
    stop();
    $("video-player").hidden = true;
    $("video-player").removeAttribute("src");
    $("video-download").hidden = true;
    show({ status: "queued" });
    $("video-status").textContent = `sending ${file.name}...`;
    const form = new FormData();
    form.append("video", file, file.name);
    for (const name of ["vibrance", "decoding", "size"]) {   // the photo controls apply too, when set
      const el = $(name);
      if (el && el.value) form.append(name, el.value);
    }
    const r = await fetch("/api/videos", { method: "POST", body: form });
    const state = await r.json();
    if (!r.ok) { show({ status: "failed", error: state.error }); return; }
    job = { id: state.id, timer: setInterval(poll, 1000) };
    show(state);
  }

  async function cancel() {
    if (!job) return;
    const id = job.id;
    stop();
    const r = await fetch(`/api/videos/${id}`, { method: "DELETE" });
    show(r.ok ? await r.json() : { status: "failed", error: (await r.json()).error });
  }

  async function init() {
    const r = await fetch("/api/health");
    if (!r.ok) return;
    const health = await r.json();
    if (!health.videos) return;
    const lim = health.limits || {};
    $("video-limits").textContent = `Up to ${Math.round((lim.max_video_seconds || 0))} s and ` +
      `${Math.round((lim.max_video_bytes || 0) / 1e6)} MB; the sound is kept.`;
    $("video-box").hidden = false;
    $("video-file").addEventListener("change", (e) => {
      const file = e.target.files && e.target.files[0];
      if (file) submit(file);
      e.target.value = "";
    });
    $("video-cancel").addEventListener("click", cancel);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
