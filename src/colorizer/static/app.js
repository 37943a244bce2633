// The Colorizer web page: add one photo or many (button or drop), each is colorized in
// turn on the server with upload progress, a "colorizing" phase and a cancel; the photo on
// screen is compared before/after by dragging on it (or with the slider); downloads one by
// one or all as a zip made here. The controls' ranges, defaults and choices come from the
// server (/api/health).
//
// Sections: settings (the controls, from /api/health) - the queue (photos and their
// requests) - the request (XMLHttpRequest, for upload progress) - the viewer (the photo on
// screen, and the tools that act on it: `compare` now; a click-on-image tool registers with
// addTool() and uses photoPoint()) - downloads (one, or a zip) - set-up.
"use strict";

const $ = (id) => document.getElementById(id);
const PREVIEW_MAX_SIDE = 2048;  // the gray preview canvas; the result keeps full size

// ---------------------------------------------------------------- settings (from /api/health)

let maxBytes = null;      // the server's upload limit
let vibranceDigits = 2;   // decimals shown for the vibrance, from its step

// Display names for the colour-class decodings the server offers (others show their own name).
const DECODING_LABELS = {
  "min-risk": ["faithful", "the colour least wrong on average (min-risk decoding)"],
  "annealed-mean": ["bold", "Zhang et al.'s annealed mean, more vivid and more often wrong"],
};

function showVibrance() {
  $("vibrance-value").textContent = Number($("vibrance").value).toFixed(vibranceDigits);
}

// The vibrance slider's range and default, as the server describes the option.
function setupVibrance(spec) {
  const slider = $("vibrance");
  const step = (spec.max - spec.min) / 100;
  vibranceDigits = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  slider.min = spec.min;
  slider.max = spec.max;
  slider.step = step;
  slider.value = spec.default;
  slider.title = spec.help;
  showVibrance();
  $("vibrance-label").hidden = false;
}

// The decodings the model offers (not its regression head, unless that is its own),
// its own preselected.
function setupDecodings(names, own) {
  const select = $("decoding");
  select.replaceChildren();
  const titles = [];
  for (const name of names) {
    if (name === "regression" && name !== own) continue;
    const [label, title] = DECODING_LABELS[name] || [name, name + " decoding"];
    select.add(new Option(label, name, name === own, name === own));
    titles.push(`${label}: ${title}`);
  }
  select.title = titles.join("; ");
  $("decoding-label").hidden = select.options.length < 2;
}

// Working sizes within the server's range: its default, its maximum, and its minimum
// doubled until the maximum.
function setupSize(spec) {
  const select = $("size");
  select.replaceChildren();
  const sizes = new Set([spec.default, spec.max]);
  for (let s = spec.min; s <= spec.max; s *= 2) sizes.add(s);
  for (const s of [...sizes].sort((a, b) => a - b)) {
    const label = s === spec.default ? `${s} px (default)` : `${s} px`;
    select.add(new Option(label, String(s), s === spec.default, s === spec.default));
  }
  select.title = spec.help;
  $("size-label").hidden = false;
}

// The output formats the server writes, its first (its default) chosen.
function setupFormats(formats) {
  const select = $("format");
  select.replaceChildren();
  formats.forEach((f, i) => select.add(new Option(f.toUpperCase(), f, i === 0, i === 0)));
  $("format-label").hidden = formats.length < 2;
}

// Limits, defaults and ranges from the server. Until they are known (or if they cannot
// be), the controls stay hidden and requests use the server's defaults.
async function loadSettings() {
  try {
    const r = await fetch("/api/health");
    if (!r.ok) return;
    const h = await r.json();
    maxBytes = h.limits.max_bytes;
    // a regression model (no decoding of colour classes) has no vibrance and no choice to make
    if (h.decoding) {
      setupVibrance(h.options.vibrance);
      setupDecodings(h.decodings, h.decoding);
    }
    if (h.options.size) setupSize(h.options.size);
    if (h.limits.formats) setupFormats(h.limits.formats);
    $("limits").textContent = `Up to ${(maxBytes / 1e6).toFixed(0)} MB and ` +
      `${(h.limits.max_pixels / 1e6).toFixed(0)} megapixels a photo.`;
  } catch (e) { /* the page still works without the limits */ }
}

// The options the controls ask for, as form fields (those shown only).
function requestFields() {
  const fields = [];
  for (const name of ["vibrance", "decoding", "size", "format"]) {
    if (!$(`${name}-label`).hidden) fields.push([name, $(name).value]);
  }
  return fields;
}

// ---------------------------------------------------------------- the queue

// status: waiting, uploading, colorizing, done, error, cancelled
const STATUS_TEXT = {
  waiting: "waiting", uploading: "uploading", colorizing: "colorizing…", done: "done", error: "failed",
  cancelled: "cancelled",
};
const WORKING = new Set(["waiting", "uploading", "colorizing"]);

let nextId = 1;
const items = [];   // every photo added: {id, file, name, status, progress, blob, url, filename, notes, error, ...}
let selected = null;  // the photo on screen
let running = null;   // the photo whose request runs (one at a time: the server has its own queue)

function checkFile(file) {
  if (file.size === 0) return "This file is empty.";
  if (maxBytes && file.size > maxBytes) {
    return `This file is ${(file.size / 1e6).toFixed(1)} MB; the limit is ${(maxBytes / 1e6).toFixed(0)} MB.`;
  }
  return null;
}

function addFiles(files) {
  const added = [];
  for (const file of files) {
    const item = { id: nextId++, file, name: file.name || "photo", status: "waiting", progress: 0, blob: null, url: null,
                   filename: null, notes: "", error: null, previewable: null, displayable: true, size: null,
                   request: null };
    const problem = checkFile(file);
    if (problem) {
      item.status = "error";
      item.error = problem;
    }
    items.push(item);
    added.push(item);
  }
  if (!added.length) return;
  renderQueue();
  select(added[0]);
  pump();
}

// Start the next photo: the one on screen first (it was asked for again), else in order.
function pump() {
  if (running) return;
  const next = selected && selected.status === "waiting" ? selected : items.find((i) => i.status === "waiting");
  if (next) start(next);
  else update();
}

function start(item) {
  running = item;
  item.status = "uploading";
  item.progress = 0;
  item.error = null;
  item.request = sendColorize(item.file, requestFields(), {
    upload(fraction) { item.progress = fraction; changed(item); },
    uploaded() { item.status = "colorizing"; changed(item); },
    done(blob, filename, notes) {
      if (item.url) URL.revokeObjectURL(item.url);
      Object.assign(item, { status: "done", blob, url: URL.createObjectURL(blob), filename, notes: notes || "",
                            displayable: true });
      finish(item);
    },
    failed(message) {
      Object.assign(item, { status: "error", error: message });
      finish(item);
    },
  });
  changed(item);
}

function finish(item) {
  item.request = null;
  if (running === item) running = null;
  changed(item);
  pump();
}

// Cancel: the photo being colorized and those waiting.
function cancel() {
  for (const item of items) if (item.status === "waiting") item.status = "cancelled";
  if (running) {
    const item = running;
    running = null;
    item.request.abort();
    item.request = null;
    item.status = "cancelled";
  }
  renderQueue();
  update();
}

// Colorize a photo again (new settings, or after a failure or a cancel), before the others.
function redo(item) {
  if (!item || checkFile(item.file)) return;  // too large or empty: it cannot be sent
  if (item === running) {
    running = null;
    item.request.abort();
    item.request = null;
  }
  item.status = "waiting";
  item.error = null;
  changed(item);
  pump();
}

function changed(item) {
  renderQueueItem(item);
  if (item === selected) update();
  else updateSummary();
}

// ---------------------------------------------------------------- the request

function filenameFrom(disposition, fallback) {
  const m = /filename="([^"]+)"/.exec(disposition || "");
  return m ? m[1] : fallback;
}

async function errorMessage(xhr) {
  try {
    const body = JSON.parse(await xhr.response.text());
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return `the server answered ${xhr.status}`;
}

// POST the photo with the fields; `on` hears upload(fraction), uploaded(), done(blob,
// filename, notes) and failed(message). Returns the request (abort() cancels it).
function sendColorize(file, fields, on) {
  const form = new FormData();
  form.append("image", file, file.name);
  for (const [name, value] of fields) form.append(name, value);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/colorize");
  xhr.responseType = "blob";
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) on.upload(e.loaded / e.total); };
  xhr.upload.onload = () => on.uploaded();
  xhr.onload = async () => {
    if (xhr.status === 200) {
      on.done(xhr.response, filenameFrom(xhr.getResponseHeader("Content-Disposition"), "photo-color.png"),
              xhr.getResponseHeader("X-Colorizer-Notes"));
    } else {
      on.failed("Could not colorize: " + await errorMessage(xhr));
    }
  };
  xhr.onerror = () => on.failed("Could not reach the server.");
  xhr.send(form);
  return xhr;
}

// ---------------------------------------------------------------- the viewer

// Tools act on the photo on screen: the active one hears the pointer on it (down, move,
// up, with the pointer captured while down). `compare` moves the before/after divider. A
// tool that works on the photo's pixels (a colour hint where one clicks) registers with
// addTool(name, {down, move, up, cursor}) and is made active with setTool(name);
// photoPoint(event) gives the pointer in the photo's own pixels.
const tools = {};
let activeTool = "compare";

function addTool(name, handlers) { tools[name] = handlers; }

function setTool(name) {
  activeTool = name;
  $("compare").dataset.tool = name;
  $("compare").style.cursor = (tools[name] && tools[name].cursor) || "";
}

// The pointer in the photo's pixels: x right, y down from the top-left corner (clamped).
function photoPoint(event) {
  const box = $("compare").getBoundingClientRect();
  const size = (selected && selected.size) || { width: box.width, height: box.height };
  const fx = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  const fy = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
  return { x: Math.min(size.width - 1, Math.floor(fx * size.width)), y: Math.min(size.height - 1, Math.floor(fy * size.height)) };
}

addTool("compare", {
  cursor: "ew-resize",
  down(event) { this.move(event); },
  move(event) {
    if ($("split").disabled) return;
    const box = $("compare").getBoundingClientRect();
    $("split").value = Math.round(Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * 100);
    updateSplit();
  },
  up() {},
});

function setupTools() {
  const area = $("compare");
  let dragging = false;
  area.addEventListener("pointerdown", (e) => {
    const tool = tools[activeTool];
    if (!tool || e.button !== 0 || e.target.closest("#busy")) return;
    dragging = true;
    area.setPointerCapture(e.pointerId);
    tool.down(e);
  });
  area.addEventListener("pointermove", (e) => { if (dragging) tools[activeTool].move(e); });
  const stop = (e) => {
    if (!dragging) return;
    dragging = false;
    tools[activeTool].up(e);
  };
  area.addEventListener("pointerup", stop);
  area.addEventListener("pointercancel", stop);
  setTool(activeTool);
}

// The photo as large as the stage allows, its aspect kept (a small photo is scaled up, at
// most 3 times): the gray canvas, or the result alone when there is no preview.
function fitViewer() {
  const size = selected && selected.size;
  const noPreview = $("compare").classList.contains("no-preview");
  for (const el of [$("before"), $("after")]) el.style.width = el.style.height = "";
  if (!size || $("work").hidden) return;
  const stage = document.querySelector(".stage");
  const top = stage.getBoundingClientRect().top + window.scrollY;
  const phone = window.matchMedia("(max-width: 760px)").matches;
  const room = phone ? window.innerHeight * 0.45 : window.innerHeight - top - 64;  // 64: the slider and a note
  const scale = Math.min(stage.clientWidth / size.width, Math.max(120, room) / size.height, 3);
  const el = noPreview ? $("after") : $("before");
  el.style.width = `${Math.max(1, Math.floor(size.width * scale))}px`;
  el.style.height = `${Math.max(1, Math.floor(size.height * scale))}px`;
}

// Left of the divider: the gray input; right of it: the colorized result.
function updateSplit() {
  const v = Number($("split").value);
  $("after").style.clipPath = $("compare").classList.contains("no-preview") ? "none" : `inset(0 0 0 ${v}%)`;
  $("divider").style.left = `${v}%`;
}

// Draw the photo on the "before" canvas in gray (Rec. 709 luma of the sRGB values).
// False when the browser cannot decode it (TIFF in most browsers; not a photo at all).
async function drawGrayPreview(file, canvas) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (e) {
    return null;
  }
  const size = { width: bitmap.width, height: bitmap.height };
  const scale = Math.min(1, PREVIEW_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const d = pixels.data;
  for (let i = 0; i < d.length; i += 4) {
    const y = Math.round(0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2]);
    d[i] = d[i + 1] = d[i + 2] = y;
  }
  ctx.putImageData(pixels, 0, 0);
  return size;
}

let shownUrl = null;   // the result the <img> shows
let showToken = 0;     // the latest select(): an older preview still being drawn is dropped

// Put a photo on screen: its gray preview, the divider in the middle, then its state.
async function select(item) {
  selected = item;
  const token = ++showToken;
  shownUrl = null;
  $("after").hidden = true;
  $("after").removeAttribute("src");
  $("split").value = 50;  // a new photo starts with the divider in the middle
  renderQueue();
  update();
  if (!item) return;
  const size = await drawGrayPreview(item.file, $("before"));
  if (token !== showToken) return;
  item.previewable = size !== null;
  if (size) item.size = size;
  update();
}

// The photo on screen as its state says: working (the overlay, progress, cancel), done
// (before/after, or the result alone when the browser cannot preview the input), failed
// (the error alone).
function update() {
  const item = selected;
  const state = !item ? "idle" : WORKING.has(item.status) ? "working" : item.status;
  document.body.dataset.state = state;
  document.body.dataset.phase = item ? item.status : "idle";
  $("empty").hidden = Boolean(item);
  const failed = item && item.status === "error";
  $("error").textContent = failed ? item.error : "";
  $("error").hidden = !failed;
  $("work").hidden = !item || failed || item.previewable === null && !item.url;
  if (item) showWork(item, state);
  fitViewer();
  updateDownload(item);
  updateSummary();
}

function showWork(item, state) {
  const noPreview = item.previewable === false;
  const compare = $("compare");
  compare.classList.toggle("no-preview", noPreview);
  $("tag-before").hidden = noPreview;
  const hasResult = Boolean(item.url) && item.displayable;
  if (item.url !== shownUrl && item.url) {
    shownUrl = item.url;
    const img = $("after");
    img.onload = () => {
      if (!item.size) item.size = { width: img.naturalWidth, height: img.naturalHeight };
      update();
    };
    img.onerror = () => { item.displayable = false; update(); };
    img.src = item.url;
  }
  const loaded = hasResult && $("after").complete && $("after").naturalWidth > 0 && shownUrl === item.url;
  $("after").hidden = !loaded;
  $("tag-after").hidden = !loaded || noPreview;
  $("divider").hidden = !loaded || noPreview;
  $("split").disabled = !loaded || noPreview;
  $("split").hidden = noPreview;
  updateSplit();
  // words where there is no picture to show
  let words = "";
  if (noPreview && !loaded) {
    words = WORKING.has(item.status) ? "This browser cannot preview this format; the server reads it."
      : "This browser cannot show this format.";
  }
  $("placeholder").textContent = words;
  $("placeholder").hidden = !words;
  // the work in progress
  const busy = state === "working";
  $("busy").hidden = !busy;
  if (busy) {
    const progress = $("progress");
    if (item.status === "uploading") {
      progress.value = Math.round(item.progress * 100);
      $("busy-text").textContent = `Uploading ${progress.value}%`;
    } else {
      progress.removeAttribute("value");  // indeterminate: the server is at work
      $("busy-text").textContent = item.status === "waiting" ? "Waiting…" : "Colorizing…";
    }
  }
  const notes = item.status !== "done" ? "" : [
    item.displayable ? "" : "the result is in a format this browser cannot show: download it", item.notes,
  ].filter(Boolean).join("; ");
  $("notes").textContent = notes ? "Note: " + notes : "";
  $("notes").hidden = !notes;
  $("status").textContent = { uploading: "Uploading…", colorizing: "Colorizing…", waiting: "Waiting…", done: "Done.",
                              cancelled: "Cancelled." }[item.status] || "";
}

// ---------------------------------------------------------------- the queue list

function renderQueue() {
  const list = $("queue");
  const ids = new Set(items.map((i) => String(i.id)));
  for (const li of [...list.children]) if (!ids.has(li.dataset.id)) li.remove();
  for (const item of items) renderQueueItem(item);
  $("queue-box").hidden = items.length < 2;
  updateSummary();
}

function renderQueueItem(item) {
  const list = $("queue");
  let li = list.querySelector(`li[data-id="${item.id}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.id = item.id;
    const pick = document.createElement("button");
    pick.type = "button";
    pick.className = "pick";
    pick.textContent = item.name;
    pick.title = item.name;
    pick.addEventListener("click", () => select(item));
    const state = document.createElement("span");
    state.className = "state";
    const bar = document.createElement("progress");
    bar.max = 100;
    const get = document.createElement("a");
    get.className = "get";
    get.textContent = "Download";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => { select(item); redo(item); });
    li.append(pick, state, bar, get, retry);
    list.append(li);
  }
  li.dataset.status = item.status;
  li.setAttribute("aria-current", item === selected ? "true" : "false");
  const pct = item.status === "uploading" ? ` ${Math.round(item.progress * 100)}%` : "";
  li.querySelector(".state").textContent = STATUS_TEXT[item.status] + pct;
  li.querySelector(".state").title = item.error || "";
  const bar = li.querySelector("progress");
  bar.hidden = !WORKING.has(item.status) || item.status === "waiting";
  if (item.status === "uploading") bar.value = Math.round(item.progress * 100);
  else bar.removeAttribute("value");
  const get = li.querySelector(".get");
  get.hidden = item.status !== "done";
  if (item.url) {
    get.href = item.url;
    get.download = item.filename;
  }
  li.querySelector(".retry").hidden = !(item.status === "error" && !checkFile(item.file) || item.status === "cancelled");
}

function updateSummary() {
  const done = items.filter((i) => i.status === "done").length;
  $("queue-count").textContent = items.length > 1 ? `${done} of ${items.length} done` : "";
  $("download-all").hidden = items.length < 2;
  $("download-all").disabled = done === 0;
}

// ---------------------------------------------------------------- downloads

function updateDownload(item) {
  const a = $("download");
  if (item && item.url) {
    a.href = item.url;
    a.download = item.filename;
    a.setAttribute("aria-disabled", "false");
  } else {
    a.setAttribute("aria-disabled", "true");
    a.removeAttribute("download");
    a.href = "#";
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A zip file of [{name, blob}], stored (the images are compressed already), UTF-8 names.
async function makeZip(entries) {
  const encoder = new TextEncoder();
  const now = new Date();
  const time = (now.getHours() << 11) | (now.getMinutes() << 5) | (now.getSeconds() >> 1);
  const date = ((now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate();
  const files = [];
  const directory = [];
  let offset = 0;
  for (const { name, blob } of entries) {
    const data = new Uint8Array(await blob.arrayBuffer());
    const nameBytes = encoder.encode(name);
    const crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    const central = new DataView(new ArrayBuffer(46));
    // local file header, then the central directory's entry (same fields, more of them)
    local.setUint32(0, 0x04034b50, true);
    central.setUint32(0, 0x02014b50, true);
    central.setUint16(4, 20, true);                 // made by: version 2.0
    for (const [view, at] of [[local, 4], [central, 6]]) {
      view.setUint16(at, 20, true);                 // needed to extract: 2.0
      view.setUint16(at + 2, 0x0800, true);         // flags: UTF-8 name
      view.setUint16(at + 4, 0, true);              // method: stored
      view.setUint16(at + 6, time, true);
      view.setUint16(at + 8, date, true);
      view.setUint32(at + 10, crc, true);
      view.setUint32(at + 14, data.length, true);   // compressed size
      view.setUint32(at + 18, data.length, true);   // size
      view.setUint16(at + 22, nameBytes.length, true);
    }
    central.setUint32(42, offset, true);            // where its local header is
    files.push(local, nameBytes, data);
    directory.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const size = directory.reduce((n, part) => n + part.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, size, true);
  end.setUint32(16, offset, true);
  return new Blob([...files, ...directory, end], { type: "application/zip" });
}

// Every colorized photo in one zip; names made unique (two "scan-color.png" become
// "scan-color.png" and "scan-color-2.png").
async function downloadAll() {
  const taken = new Map();
  const entries = [];
  for (const item of items.filter((i) => i.status === "done")) {
    const dot = item.filename.lastIndexOf(".");
    const [stem, ext] = dot > 0 ? [item.filename.slice(0, dot), item.filename.slice(dot)] : [item.filename, ""];
    const n = (taken.get(item.filename) || 0) + 1;
    taken.set(item.filename, n);
    entries.push({ name: n === 1 ? item.filename : `${stem}-${n}${ext}`, blob: item.blob });
  }
  if (!entries.length) return;
  const url = URL.createObjectURL(await makeZip(entries));
  const a = document.createElement("a");
  a.href = url;
  a.download = "colorized-photos.zip";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ---------------------------------------------------------------- set-up

function setupDrop() {
  // a drop anywhere on the page adds the photos (and does not navigate away from it)
  const over = (on) => document.body.classList.toggle("dragging", on);
  window.addEventListener("dragover", (e) => { e.preventDefault(); over(true); });
  window.addEventListener("dragleave", (e) => { if (!e.relatedTarget) over(false); });
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    over(false);
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) addFiles([...files]);
  });
}

function setup() {
  setupDrop();
  setupTools();
  $("file").addEventListener("change", (e) => {
    addFiles([...e.target.files]);
    e.target.value = "";  // choosing the same file again adds it again
  });
  $("split").addEventListener("input", updateSplit);
  $("vibrance").addEventListener("input", showVibrance);
  for (const id of ["vibrance", "decoding", "size", "format"]) {
    $(id).addEventListener("change", () => { if (selected && !checkFile(selected.file)) redo(selected); });
  }
  $("cancel").addEventListener("click", cancel);
  $("download-all").addEventListener("click", downloadAll);
  window.addEventListener("resize", fitViewer);
  loadSettings().then(() => { $("controls-hint").hidden = false; });
}

setup();
