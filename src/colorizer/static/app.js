// The Colorizer web page: add one photo or many (button or drop), each is colorized in
// turn on the server with upload progress, a "colorizing" phase and a cancel; the photo on
// screen is compared before/after by dragging on it (or with the slider); downloads one by
// one or all as a zip made here. The controls' ranges, defaults and choices come from the
// server (/api/health). With a hint-aware model (/api/health "hints": true) the "hints"
// tool gives colours at points of the photo, and the result follows each change. With a
// colour-class model: a reference photo (and its strength) steers the colours, the result's
// alternatives show as thumbnails (click one to make it the result), and a confidence
// overlay darkens where the model is unsure.
//
// Sections: settings (the controls, from /api/health) - the queue (photos and their
// requests) - the request (XMLHttpRequest, for upload progress) - the viewer (the photo on
// screen, and the tools that act on it: `compare` and `hints`, registered with addTool();
// photoPoint() gives the pointer in the photo's pixels) - hints (markers, the picker, the
// live preview, save and load) - downloads (one, or a zip) - set-up.
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
    if (h.hints) setupHints(h.limits.formats || []);
    if (h.decoding) setupSteering(h.options);
    $("limits").textContent = `Up to ${(maxBytes / 1e6).toFixed(0)} MB and ` +
      `${(h.limits.max_pixels / 1e6).toFixed(0)} megapixels a photo.`;
  } catch (e) { /* the page still works without the limits */ }
}

// The options the controls ask for, as form fields (those shown only), and the photo's
// hints, if it has some.
function requestFields(item, names = ["vibrance", "decoding", "size", "format"]) {
  const fields = [];
  for (const name of names) {
    if (!$(`${name}-label`).hidden) fields.push([name, $(name).value]);
  }
  if (item && hintsAvailable && item.hints.length) fields.push(["hints", hintsJson(item.hints)]);
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
                   request: null,
                   // hints, in the photo's own pixels; hintsRev counts their changes, resultRev is the
                   // count the full-size result (url) was made with; quiet: that result is being
                   // made again for new hints (no overlay; the preview stays on screen)
                   // refused: the server refused these hints (no full-size request until they change)
                   hints: [], hintsRev: 0, resultRev: 0, quiet: false, hintError: null, refused: false, refineTimer: null,
                   preview: { busy: false, xhr: null, again: false, url: null, rev: -1 }, small: null,
                   alternatives: [], chosen: 0, confidenceUrl: null };  // the result's alternatives (it first) and confidence map

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
  const rev = item.hintsRev;  // the hints this result is for
  item.request = sendColorize(item.file, [...requestFields(item), ...steeringFields()], {
    upload(fraction) { item.progress = fraction; changed(item); },
    uploaded() { item.status = "colorizing"; changed(item); },
    done(blob, filename, notes, extras) {
      forgetResult(item);
      Object.assign(item, { status: "done", blob, url: URL.createObjectURL(blob), filename, notes: notes || "",
                            displayable: true, resultRev: rev, quiet: false, hintError: null });
      keepExtras(item, extras);
      finish(item);
    },
    failed(message) {
      if (item.quiet && item.url) {
        // the full-size result for new hints failed: the photo stays, the message goes with the hints
        Object.assign(item, { status: "done", quiet: false, hintError: message, refused: true });
      } else {
        Object.assign(item, { status: "error", error: message, quiet: false });
      }
      finish(item);
    },
  });
  changed(item);
}

function finish(item) {
  item.request = null;
  if (running === item) running = null;
  changed(item);
  refineLater(item);
  pump();
}

// Cancel: the photo being colorized and those waiting.
// Stop the request of `item` if it is the one being sent; whether it was.
function abortIfRunning(item) {
  if (!item || item !== running) return false;
  running = null;
  item.request.abort();
  item.request = null;
  return true;
}

function cancel() {
  // a photo being made again for its hints keeps the result it has
  const stopped = (item) => (item.quiet && item.url ? "done" : "cancelled");
  for (const item of items) {
    if (item.status === "waiting") {
      item.status = stopped(item);
      item.quiet = false;
    }
  }
  const current = running;
  if (abortIfRunning(current)) {
    current.status = stopped(current);
    current.quiet = false;
  }
  renderQueue();
  update();
}

// Colorize a photo again (new settings, or after a failure or a cancel), before the others.
function redo(item) {
  if (!item || checkFile(item.file)) return;  // too large or empty: it cannot be sent
  abortIfRunning(item);
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

// A data: URL (base64) as a Blob.
function dataUrlBlob(url) {
  const comma = url.indexOf(",");
  const type = url.slice(5, url.indexOf(";"));
  const bytes = Uint8Array.from(atob(url.slice(comma + 1)), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type });
}

// POST the photo with the fields; `on` hears upload(fraction), uploaded(), done(blob,
// filename, notes, extras) and failed(message, status); extras: {variants: [Blob],
// confidence: Blob or null} when the fields asked for them (the answer is JSON then), else
// null. Returns the request (abort() cancels it).
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
    if (xhr.status === 200 && (xhr.getResponseHeader("Content-Type") || "").startsWith("application/json")) {
      const body = JSON.parse(await xhr.response.text());
      on.done(dataUrlBlob(body.image), body.filename, body.notes.join("; "),
              { variants: body.variants.map(dataUrlBlob), confidence: body.confidence ? dataUrlBlob(body.confidence) : null });
    } else if (xhr.status === 200) {
      on.done(xhr.response, filenameFrom(xhr.getResponseHeader("Content-Disposition"), "photo-color.png"),
              xhr.getResponseHeader("X-Colorizer-Notes"), null);
    } else {
      on.failed("Could not colorize: " + await errorMessage(xhr), xhr.status);
    }
  };
  xhr.onerror = () => on.failed("Could not reach the server.", 0);
  xhr.send(form);
  return xhr;
}

// ---------------------------------------------------------------- the viewer

// Tools act on the photo on screen: the active one hears the pointer on it (down, move,
// up, with the pointer captured while down). `compare` moves the before/after divider;
// `hints` (below) places, moves and selects colour hints. A tool registers with
// addTool(name, {down, move, up, cursor, enter, leave}) and is made active with
// setTool(name); photoPoint(event) gives the pointer in the photo's own pixels.
const tools = {};
let activeTool = "compare";

function addTool(name, handlers) { tools[name] = handlers; }

function setTool(name) {
  if (name === activeTool && $("compare").dataset.tool === name) return;
  const before = tools[activeTool];
  if (before && before.leave) before.leave();
  activeTool = name;
  $("compare").dataset.tool = name;
  $("compare").style.cursor = (tools[name] && tools[name].cursor) || "";
  for (const button of document.querySelectorAll("[data-tool-button]")) {
    button.setAttribute("aria-pressed", String(button.dataset.toolButton === name));
  }
  if (tools[name] && tools[name].enter) tools[name].enter();
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
  $("compare").dataset.tool = "";
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
  placePicker();
}

// Left of the divider: the gray input; right of it: the colorized result.
function updateSplit() {
  const v = Number($("split").value);
  $("after").style.clipPath = $("compare").classList.contains("no-preview") ? "none" : `inset(0 0 0 ${v}%)`;
  $("confidence-overlay").style.clipPath = $("after").style.clipPath;  // over the result's side only
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
  if (item !== selected) resetEditor();
  selected = item;
  const token = ++showToken;
  shownUrl = null;
  $("after").hidden = true;
  $("after").removeAttribute("src");
  $("split").value = activeTool === "hints" ? 0 : 50;  // a new photo starts with the divider in the middle (hints: the result)
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
  renderHints();
}

// What the "after" image shows: the preview made for newer hints than the full-size
// result, else that result.
function resultUrl(item) {
  if (item.preview.url && item.preview.rev > item.resultRev) return item.preview.url;
  return item.displayable ? item.url : null;
}

function showWork(item, state) {
  const noPreview = item.previewable === false;
  const compare = $("compare");
  compare.classList.toggle("no-preview", noPreview);
  $("tag-before").hidden = noPreview;
  const url = resultUrl(item);
  if (url !== shownUrl && url) {
    shownUrl = url;
    const img = $("after");
    img.onload = () => {
      if (!item.size) item.size = { width: img.naturalWidth, height: img.naturalHeight };
      update();
    };
    img.onerror = () => { if (url === item.url) item.displayable = false; update(); };
    img.src = url;
  }
  const loaded = Boolean(url) && $("after").complete && $("after").naturalWidth > 0 && shownUrl === url;
  $("after").hidden = !loaded;
  $("tag-after").hidden = !loaded || noPreview;
  $("divider").hidden = !loaded || noPreview;
  $("split").disabled = !loaded || noPreview;
  $("split").hidden = noPreview;
  updateSplit();
  const overlay = $("confidence-overlay");
  const showConfidence = loaded && $("confidence").checked && Boolean(item.confidenceUrl) && url === item.url;
  if (showConfidence && overlay.getAttribute("src") !== item.confidenceUrl) overlay.src = item.confidenceUrl;
  overlay.hidden = !showConfidence;
  renderAlternatives(item, loaded);
  // words where there is no picture to show
  let words = "";
  if (noPreview && !loaded) {
    words = WORKING.has(item.status) ? "This browser cannot preview this format; the server reads it."
      : "This browser cannot show this format.";
  }
  $("placeholder").textContent = words;
  $("placeholder").hidden = !words;
  // the work in progress (not while the full-size result is made again for new hints: the
  // preview is on screen)
  const busy = state === "working" && !item.quiet;
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
  $("status").textContent = item.quiet && WORKING.has(item.status) ? "Making the full-size result…"
    : item.status === "done" && !fresh(item) ? (item.hintError ? "" : "Editing hints…")
    : { uploading: "Uploading…", colorizing: "Colorizing…", waiting: "Waiting…", done: "Done.",
        cancelled: "Cancelled." }[item.status] || "";
}

// ---------------------------------------------------------------- reference, alternatives, confidence

// A reference photo (a File; sent with every photo colorized from then on) steers the
// colours towards its palette, at a strength; alternatives come back as thumbnails (the
// result first: click one to make it the result, and the one downloaded); the confidence
// map lies over the result while the overlay is on.
let steering = false;    // whether the server offers them (a colour-class model)
let reference = null;    // the reference photo, a File
let referenceUrl = null; // its thumbnail

function showStrength() {
  $("reference-strength-value").textContent = Number($("reference-strength").value).toFixed(1);
}

function setupSteering(opts) {
  if (!opts.reference || !opts.reference_strength || !opts.variants || !opts.confidence) return;
  steering = true;
  const spec = opts.reference_strength;
  const slider = $("reference-strength");
  slider.min = spec.min;
  slider.max = spec.max;
  slider.step = 0.1;
  slider.value = spec.default;
  slider.title = spec.help;
  showStrength();
  const select = $("variants");
  select.replaceChildren();
  for (let k = opts.variants.min; k <= opts.variants.max; k++) {
    select.add(new Option(k === 0 ? "none" : String(k), String(k), k === opts.variants.default, k === opts.variants.default));
  }
  select.title = opts.variants.help;
  $("confidence-label").title = opts.confidence.help;
  $("reference-pick").title = opts.reference.help;
  $("steer-box").hidden = false;
}

// The form fields for them: the reference photo (a file field) and its strength, the number
// of alternatives, the confidence map.
function steeringFields() {
  if (!steering) return [];
  const fields = [];
  if (reference) fields.push(["reference", reference], ["reference_strength", $("reference-strength").value]);
  if (Number($("variants").value) > 0) fields.push(["variants", $("variants").value]);
  if ($("confidence").checked) fields.push(["confidence", "true"]);
  return fields;
}

function setReference(file) {
  if (referenceUrl) URL.revokeObjectURL(referenceUrl);
  reference = file;
  referenceUrl = file ? URL.createObjectURL(file) : null;
  $("reference-thumb").hidden = !file;
  if (file) $("reference-thumb").src = referenceUrl;
  else $("reference-thumb").removeAttribute("src");
  $("reference-thumb").title = file ? file.name : "";
  $("reference-clear").hidden = !file;
  $("reference-strength-label").hidden = !file;
  again();
}

// Colorize the photo on screen again for a changed setting.
function again() {
  if (selected && !checkFile(selected.file)) redo(selected);
}

// A new result replaces the old one and its extras.
function forgetResult(item) {
  for (const alt of item.alternatives || []) URL.revokeObjectURL(alt.url);
  if (item.url && !(item.alternatives || []).some((alt) => alt.url === item.url)) URL.revokeObjectURL(item.url);
  if (item.confidenceUrl) URL.revokeObjectURL(item.confidenceUrl);
  Object.assign(item, { alternatives: [], chosen: 0, confidenceUrl: null });
}

// The alternatives (the result first) and the confidence map of a new result.
function keepExtras(item, extras) {
  if (!extras) return;
  const dot = item.filename.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [item.filename.slice(0, dot), item.filename.slice(dot)] : [item.filename, ""];
  item.alternatives = [{ label: "result", blob: item.blob, url: item.url, filename: item.filename }];
  extras.variants.forEach((blob, k) => {
    item.alternatives.push({ label: `alternative ${k + 1}`, blob, url: URL.createObjectURL(blob),
                             filename: `${stem}_v${k + 1}${ext}` });
  });
  item.chosen = 0;
  item.confidenceUrl = extras.confidence ? URL.createObjectURL(extras.confidence) : null;
}

// Make alternative k the result (shown, downloaded).
function choose(item, k) {
  const alt = item.alternatives[k];
  Object.assign(item, { chosen: k, blob: alt.blob, url: alt.url, filename: alt.filename });
  changed(item);
}

function renderAlternatives(item, loaded) {
  const box = $("alternatives");
  const alts = (item && item.status === "done" && item.alternatives) || [];
  box.hidden = !loaded || alts.length < 2;
  if (box.hidden) return;
  const key = alts.map((a) => a.url).join(" ");
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    box.replaceChildren(...alts.map((alt, k) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.index = String(k);
      const img = document.createElement("img");
      img.src = alt.url;
      img.alt = alt.label;
      const label = document.createElement("span");
      label.textContent = k === 0 ? "result" : String(k);
      button.append(img, label);
      button.addEventListener("click", () => choose(item, k));
      return button;
    }));
  }
  for (const button of box.children) button.setAttribute("aria-pressed", String(Number(button.dataset.index) === item.chosen));
}

function setupSteeringControls() {
  $("reference-file").addEventListener("change", (e) => {
    if (e.target.files.length) setReference(e.target.files[0]);
    e.target.value = "";
  });
  $("reference-clear").addEventListener("click", () => setReference(null));
  $("reference-strength").addEventListener("input", showStrength);
  $("reference-strength").addEventListener("change", () => { if (reference) again(); });
  $("variants").addEventListener("change", again);
  // the overlay: a photo without its map is colorized again with it; with it, only shown or hidden
  $("confidence").addEventListener("change", () => {
    if ($("confidence").checked && selected && selected.status === "done" && !selected.confidenceUrl) again();
    else update();
  });
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
  get.hidden = item.status !== "done" || !fresh(item);
  if (item.url) {
    get.href = item.url;
    get.download = item.filename;
  }
  li.querySelector(".retry").hidden = !(item.status === "error" && !checkFile(item.file) || item.status === "cancelled");
}

function updateSummary() {
  const done = items.filter((i) => i.status === "done" && fresh(i)).length;
  $("queue-count").textContent = items.length > 1 ? `${done} of ${items.length} done` : "";
  $("download-all").hidden = items.length < 2;
  $("download-all").disabled = done === 0;
}

// ---------------------------------------------------------------- hints

// Point hints, for a hint-aware model (/api/health "hints": true; the tool is hidden
// otherwise): colours the user gives at points of the photo. Each photo in the queue keeps
// its own, always in the ORIGINAL photo's pixels ([{x, y, color}], the JSON that
// hints.json, `colorizer colorize --hints` and the API's `hints` field take). After each
// change a copy of the photo, its longest side PREVIEW_SIDES working sizes (made here with
// a canvas), is colorized with the hints scaled to it (the previous such request
// cancelled), so the result follows the edits; when they stop for REFINE_AFTER_MS, the
// photo is colorized again at full resolution, through the queue, for the download.
const PREVIEW_SIDES = 2;       // the preview copy's longest side, in working sizes
const REFINE_AFTER_MS = 1200;  // no change for this long: the full-size result
const DRAG_PX = 4;             // a press on a marker that moves further is a drag, else a click

let hintsAvailable = false;
let previewFormat = null;      // a format every browser shows, for previews (null: the server's default)
let splitBeforeHints = null;   // the divider where it was before the hints tool
// the hint being edited: `hint` (one of the photo's, selected) or `pending` ({x, y}: a new
// point, no colour chosen yet); the picker is open for it when `open`
const editor = { hint: null, pending: null, open: false, press: null, suggest: null };

function setupHints(formats) {
  hintsAvailable = true;
  previewFormat = ["jpg", "png", "webp"].find((f) => formats.includes(f)) || null;
  $("hints-box").hidden = false;
  renderHints();
}

function hintsJson(hints) {
  return JSON.stringify(hints.map(({ x, y, color }) => ({ x, y, color })));
}

// The photo to send while editing: a copy whose longest side is PREVIEW_SIDES working sizes
// (the photo itself when it is no larger, or when this browser cannot read it), and the
// scale from the photo's pixels to the copy's.
async function previewCopy(item) {
  const size = $("size-label").hidden ? null : Number($("size").value);
  const side = size ? size * PREVIEW_SIDES : Infinity;
  if (item.small && item.small.side === side) return item.small;
  const whole = { side, file: item.file, sx: 1, sy: 1 };
  const { width, height } = item.size || {};
  if (!item.previewable || !width || Math.max(width, height) <= side) return (item.small = whole);
  const scale = side / Math.max(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  try {
    const bitmap = await createImageBitmap(item.file, { imageOrientation: "from-image" });
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
  } catch (e) {
    return (item.small = whole);
  }
  // PNG where the photo may be transparent, else a fine JPEG (smaller to send)
  const type = /png|webp|gif/.test(item.file.type) ? "image/png" : "image/jpeg";
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, type, 0.92));
  if (!blob) return (item.small = whole);
  const name = item.name.replace(/\.[^.]*$/, "") + (type === "image/png" ? ".png" : ".jpg");
  item.small = { side, file: new File([blob], name, { type }), sx: canvas.width / width, sy: canvas.height / height,
                 width: canvas.width, height: canvas.height };
  return item.small;
}

// Hints (or a point) in the copy's pixels: scaled, and kept inside it.
function scaled(small, p) {
  if (small.sx === 1 && small.sy === 1) return { ...p };
  const x = Math.min(Math.round(p.x * small.sx * 100) / 100, small.width - 0.01);
  const y = Math.min(Math.round(p.y * small.sy * 100) / 100, small.height - 0.01);
  return { ...p, x, y };
}

// After each change to a photo's hints: a new preview, and the full-size result later.
// `live`: a marker being dragged, or the free colour picker being moved: no cancel (the
// server would still do the work asked of it), the latest state is sent when the request in
// flight is answered.
function hintsChanged(item, live = false) {
  item.hintsRev++;
  item.hintError = null;
  item.refused = false;
  clearTimeout(item.refineTimer);
  stopRefine(item);
  if (item.status === "error" && !checkFile(item.file)) {
    redo(item);  // the photo failed before: colorize it again, hints and all
  } else if (live && item.preview.busy) {
    item.preview.again = true;
  } else {
    preview(item);
  }
  if (item === selected) update();
}

// A full-size result being made for older hints is not wanted any more.
function stopRefine(item) {
  if (!item.quiet || !WORKING.has(item.status)) return;
  abortIfRunning(item);
  item.status = "done";
  item.quiet = false;
  changed(item);
  pump();
}

let previewToken = 0;

async function preview(item) {
  if (item.preview.xhr) item.preview.xhr.abort();
  const token = ++previewToken;
  Object.assign(item.preview, { busy: true, xhr: null, again: false, token });
  const small = await previewCopy(item);
  if (item.preview.token !== token) return;  // a newer call sends its own
  const rev = item.hintsRev;  // the hints as they are now (a drag may have moved one meanwhile)
  item.preview.again = false;
  const fields = requestFields(null, ["vibrance", "decoding", "size"]);
  if (previewFormat) fields.push(["format", previewFormat]);
  if (item.hints.length) fields.push(["hints", hintsJson(item.hints.map((h) => scaled(small, h)))]);
  const settled = () => {
    Object.assign(item.preview, { busy: false, xhr: null });
    if (item.preview.again) preview(item);
  };
  item.preview.xhr = sendColorize(small.file, fields, {
    upload() {},
    uploaded() {},
    done(blob) {
      if (item.preview.url) URL.revokeObjectURL(item.preview.url);
      Object.assign(item.preview, { url: URL.createObjectURL(blob), rev });
      settled();
      refineLater(item);
      if (item === selected) update();
    },
    failed(message, status) {
      settled();
      if (status === 422 && small.file !== item.file) {
        refine(item);  // the full-size request says it in the photo's own pixels
      } else {
        Object.assign(item, { hintError: message, refused: true });
        if (item === selected) update();
      }
    },
  });
  if (item === selected) update();
}

// The full-size result for the hints as they are, once the edits have stopped.
function refineLater(item) {
  clearTimeout(item.refineTimer);
  if (item.status !== "done" || fresh(item) || item.preview.busy || item.refused) return;
  item.refineTimer = setTimeout(() => refine(item), REFINE_AFTER_MS);
}

function refine(item) {
  clearTimeout(item.refineTimer);
  if (WORKING.has(item.status) || fresh(item) && item.status === "done") return;
  item.quiet = item.status === "done";
  redo(item);
}

// ---- markers and the picker

function markerSize() {
  const width = $("compare").getBoundingClientRect().width;
  return Math.round(Math.min(24, Math.max(14, width / 40)));
}

// The markers of the photo on screen, in % of the photo: they follow the view's scale.
function renderHints() {
  if (!hintsAvailable) return;
  const item = selected;
  const layer = $("hint-layer");
  const on = activeTool === "hints" && Boolean(item && item.size) && !$("work").hidden;
  layer.hidden = !on;
  const n = item ? item.hints.length : 0;
  $("hint-count").textContent = !item ? "" : n === 0 ? "No hints" : n === 1 ? "1 hint" : `${n} hints`;
  $("hints-save").disabled = !n;
  $("hints-clear").disabled = !n;
  $("hints-load").setAttribute("aria-disabled", String(!item));
  $("hint-error").textContent = (item && item.hintError) || "";
  $("hint-error").hidden = !(item && item.hintError);
  document.body.dataset.hints = !item ? "" : item.preview.busy ? "previewing" : item.status === "done" && fresh(item)
    ? "ready" : "updating";
  if (!on) {
    layer.replaceChildren();
    return;
  }
  layer.style.setProperty("--marker", `${markerSize()}px`);
  const { width, height } = item.size;
  const points = item.hints.map((h, i) => [h, i]);
  if (editor.pending) points.push([editor.pending, null]);
  while (layer.children.length > points.length) layer.lastChild.remove();
  points.forEach(([p, i], k) => {
    let b = layer.children[k];  // the same elements while they last (a focused marker stays focused)
    if (!b) {
      b = document.createElement("button");
      b.type = "button";
      b.className = "hint-marker";
      layer.append(b);
    }
    b.style.left = `${((p.x + 0.5) / width) * 100}%`;
    b.style.top = `${((p.y + 0.5) / height) * 100}%`;
    b.dataset.x = p.x;
    b.dataset.y = p.y;
    b.classList.toggle("pending", i === null);
    if (i === null) {
      delete b.dataset.index;
      b.style.removeProperty("--c");
      b.setAttribute("aria-label", `new hint at ${p.x}, ${p.y}: choose its colour`);
    } else {
      b.dataset.index = i;
      b.style.setProperty("--c", p.color);
      b.setAttribute("aria-label", `hint at ${p.x}, ${p.y}: ${p.color}`);
    }
    b.setAttribute("aria-pressed", String(p === editor.hint || p === editor.pending));
  });
  placePicker();
}

// The picker beside its point, inside the window.
function placePicker() {
  const picker = $("picker");
  if (picker.hidden) return;
  const point = editor.pending || editor.hint;
  const item = selected;
  if (!point || !item || !item.size) return;
  const box = $("compare").getBoundingClientRect();
  const px = box.left + ((point.x + 0.5) / item.size.width) * box.width;
  const py = box.top + ((point.y + 0.5) / item.size.height) * box.height;
  const w = picker.offsetWidth, h = picker.offsetHeight, gap = 18;
  let left = px + gap;
  if (left + w > window.innerWidth - 8) left = Math.max(8, px - gap - w);
  const top = Math.min(Math.max(8, py - h / 3), Math.max(8, window.innerHeight - h - 8));
  picker.style.left = `${left}px`;
  picker.style.top = `${top}px`;
}

function openPicker() {
  const item = selected;
  const point = editor.pending || editor.hint;
  editor.open = true;
  $("picker-title").textContent = editor.pending ? `Colour at ${point.x}, ${point.y}` : `Hint at ${point.x}, ${point.y}`;
  $("hint-remove").disabled = !editor.hint;
  if (editor.hint) $("hint-color").value = editor.hint.color;
  $("picker").hidden = false;
  renderHints();
  suggest(item, point);
}

function closePicker() {
  if (editor.suggest) editor.suggest.abort();
  editor.suggest = null;
  editor.pending = null;
  editor.open = false;
  $("picker").hidden = true;
  renderHints();
}

// The model's likeliest colours at the point (given the photo's other hints), as swatches,
// likeliest first, each with its probability.
async function suggest(item, point) {
  if (editor.suggest) editor.suggest.abort();
  const control = new AbortController();
  editor.suggest = control;
  const box = $("swatches");
  box.replaceChildren(Object.assign(document.createElement("p"), { className: "hint", textContent: "Asking the model…" }));
  let message;
  try {
    const small = await previewCopy(item);
    const others = item.hints.filter((h) => h !== point).map((h) => scaled(small, h));
    const at = scaled(small, point);
    const form = new FormData();
    form.append("image", small.file, small.file.name);
    for (const [name, value] of requestFields(null, ["vibrance", "decoding", "size"])) form.append(name, value);
    if (others.length) form.append("hints", hintsJson(others));
    form.append("x", at.x);
    form.append("y", at.y);
    const r = await fetch("/api/suggest", { method: "POST", body: form, signal: control.signal });
    const body = await r.json().catch(() => null);
    if (r.ok && body && Array.isArray(body.colors)) {
      if (control !== editor.suggest) return;
      showSwatches(body.colors, point);
      return;
    }
    message = (body && body.error) || `the server answered ${r.status}`;
  } catch (e) {
    if (control.signal.aborted) return;
    message = "could not reach the server";
  }
  if (control !== editor.suggest) return;
  box.replaceChildren(Object.assign(document.createElement("p"), { className: "hint",
                                                                    textContent: `No suggestions: ${message}` }));
  placePicker();
}

function percent(p) {
  return p >= 0.095 ? `${Math.round(p * 100)}%` : p >= 0.001 ? `${(p * 100).toFixed(1)}%` : "<0.1%";
}

function showSwatches(colors, point) {
  const buttons = colors.map((c) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "swatch";
    b.dataset.color = c.color;
    b.title = `${c.color}: the model gives it ${percent(c.probability)} here`;
    b.setAttribute("aria-pressed", String(Boolean(editor.hint && editor.hint.color === c.color)));
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = c.color;
    const p = document.createElement("span");
    p.className = "p";
    p.textContent = percent(c.probability);
    b.append(chip, p);
    b.addEventListener("click", () => chooseColour(c.color));
    return b;
  });
  $("swatches").replaceChildren(...buttons);
  // the free picker starts at the model's best guess for a new point
  if (point === editor.pending && colors.length) $("hint-color").value = colors[0].color;
  placePicker();
}

// A colour chosen in the picker: the new point becomes a hint, or the hint changes colour.
// `live`: one of the free picker's many changes while it is dragged (see hintsChanged).
function chooseColour(color, live = false) {
  const item = selected;
  if (!item) return;
  if (editor.pending) {
    const hint = { x: editor.pending.x, y: editor.pending.y, color };
    item.hints.push(hint);
    editor.hint = hint;
    editor.pending = null;
    $("hint-remove").disabled = false;
    $("picker-title").textContent = `Hint at ${hint.x}, ${hint.y}`;
  } else if (editor.hint) {
    if (editor.hint.color === color) return;
    editor.hint.color = color;
  } else {
    return;
  }
  for (const s of $("swatches").querySelectorAll(".swatch")) s.setAttribute("aria-pressed", String(s.dataset.color === color));
  if (!live) $("hint-color").value = color;  // the free picker shows the hint's colour
  hintsChanged(item, live);
}

function removeHint() {
  const item = selected;
  const hint = editor.hint;
  if (!item || !hint) return;
  item.hints = item.hints.filter((h) => h !== hint);
  editor.hint = null;
  closePicker();
  hintsChanged(item);
}

function clearHints() {
  const item = selected;
  if (!item || !item.hints.length) return;
  item.hints = [];
  editor.hint = null;
  closePicker();
  hintsChanged(item);
}

// Another photo on screen, or no photo: nothing is being edited.
function resetEditor() {
  editor.hint = null;
  editor.press = null;
  closePicker();
}

addTool("hints", {
  cursor: "crosshair",
  enter() {
    splitBeforeHints = $("split").value;
    $("split").value = 0;  // the result over the whole photo
    updateSplit();
    renderHints();
  },
  leave() {
    if (splitBeforeHints !== null) $("split").value = splitBeforeHints;
    splitBeforeHints = null;
    updateSplit();
    resetEditor();
  },
  down(event) {
    const item = selected;
    editor.press = null;
    if (!item || !item.size) return;
    const marker = event.target.closest(".hint-marker");
    if (marker && marker.dataset.index !== undefined) {
      editor.press = { hint: item.hints[Number(marker.dataset.index)], x: event.clientX, y: event.clientY, moved: false };
      return;
    }
    if (marker) return;  // the new point itself
    editor.hint = null;
    editor.pending = photoPoint(event);
    openPicker();
  },
  move(event) {
    const press = editor.press;
    if (!press || !selected) return;
    if (!press.moved && Math.hypot(event.clientX - press.x, event.clientY - press.y) < DRAG_PX) return;
    if (!press.moved) {
      press.moved = true;
      editor.hint = press.hint;
      if (editor.open) closePicker();
    }
    const p = photoPoint(event);
    if (p.x === press.hint.x && p.y === press.hint.y) return;
    Object.assign(press.hint, p);
    hintsChanged(selected, true);
  },
  up() {
    const press = editor.press;
    editor.press = null;
    if (!press || !selected) return;
    editor.hint = press.hint;
    editor.pending = null;
    if (press.moved) {
      renderHints();  // the last position is sent when the preview in flight is answered
    } else {
      openPicker();
    }
  },
});

// A marker activated from the keyboard (Enter or Space; a pointer's click is the tool's):
// its picker.
function openMarkerByKey(event) {
  const marker = event.target.closest(".hint-marker");
  if (event.detail !== 0 || !marker || marker.dataset.index === undefined || !selected) return;
  editor.hint = selected.hints[Number(marker.dataset.index)];
  editor.pending = null;
  openPicker();
}

function onHintKey(event) {
  if (!hintsAvailable || activeTool !== "hints") return;
  const target = event.target;
  const typing = target && (target.tagName === "SELECT" || target.tagName === "TEXTAREA" ||
                            target.tagName === "INPUT" && target.type !== "color" && target.type !== "button");
  if (event.key === "Escape" && (editor.open || editor.hint)) {
    editor.hint = null;
    closePicker();
  } else if ((event.key === "Delete" || event.key === "Backspace") && editor.hint && !typing) {
    event.preventDefault();
    removeHint();
  }
}

// ---- save and load

function saveHints() {
  const item = selected;
  if (!item || !item.hints.length) return;
  const text = JSON.stringify(item.hints.map(({ x, y, color }) => ({ x, y, color })), null, 1) + "\n";
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = item.name.replace(/\.[^.]*$/, "") + "-hints.json";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// A hints file's list, checked as the server checks it (colorizer.hints), and inside the
// photo; Error with the reason otherwise.
function checkHints(data, size) {
  if (!Array.isArray(data)) throw new Error('hints must be a JSON list of {"x": ..., "y": ..., "color": "#RRGGBB"}');
  return data.map((h, i) => {
    const keys = h && typeof h === "object" && !Array.isArray(h) ? Object.keys(h).sort().join() : "";
    if (keys !== "color,x,y") throw new Error(`hint ${i + 1}: must be {"x": ..., "y": ..., "color": "#RRGGBB"}`);
    for (const name of ["x", "y"]) {
      if (typeof h[name] !== "number" || !Number.isFinite(h[name]) || h[name] < 0) {
        throw new Error(`hint ${i + 1}: ${name} must be a pixel position (a number, 0 or more)`);
      }
    }
    if (typeof h.color !== "string" || !/^#[0-9a-fA-F]{6}$/.test(h.color)) {
      throw new Error(`hint ${i + 1}: colour must be #RRGGBB (six hexadecimal digits)`);
    }
    if (size && !(h.x < size.width && h.y < size.height)) {
      throw new Error(`hint ${i + 1} (${h.x},${h.y},${h.color}): outside the ${size.width}x${size.height} photo`);
    }
    return { x: h.x, y: h.y, color: h.color.toLowerCase() };
  });
}

async function loadHints(file) {
  const item = selected;
  if (!item) return;
  let hints;
  try {
    let data;
    try {
      data = JSON.parse(await file.text());
    } catch (e) {
      throw new Error("not valid JSON");
    }
    hints = checkHints(data, item.size);
  } catch (e) {
    item.hintError = `${file.name}: ${e.message}`;
    update();
    return;
  }
  item.hints = hints;
  resetEditor();
  if (activeTool !== "hints") setTool("hints");  // to see them
  hintsChanged(item);
}

// ---------------------------------------------------------------- downloads

// Whether the photo's result is for its hints as they are now (else a new one is coming).
function fresh(item) {
  return item.resultRev === item.hintsRev;
}

function updateDownload(item) {
  const a = $("download");
  if (item && item.url && fresh(item)) {
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
  for (const item of items.filter((i) => i.status === "done" && fresh(i))) {
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
    if (!files || !files.length) return;
    // a hints file dropped on a photo: its hints
    if (hintsAvailable && selected && files.length === 1 && /\.json$/i.test(files[0].name)) loadHints(files[0]);
    else addFiles([...files]);
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
  // the hints tool (shown by setupHints when the model takes hints)
  for (const button of document.querySelectorAll("[data-tool-button]")) {
    button.addEventListener("click", () => setTool(button.dataset.toolButton));
  }
  $("hint-color").addEventListener("input", (e) => chooseColour(e.target.value, true));
  $("hint-layer").addEventListener("click", openMarkerByKey);
  $("hint-remove").addEventListener("click", removeHint);
  $("picker-done").addEventListener("click", closePicker);
  $("hints-save").addEventListener("click", saveHints);
  $("hints-clear").addEventListener("click", clearHints);
  $("hints-file").addEventListener("change", (e) => {
    if (e.target.files.length) loadHints(e.target.files[0]);
    e.target.value = "";
  });
  document.addEventListener("keydown", onHintKey);
  window.addEventListener("scroll", placePicker, { passive: true });
  $("download-all").addEventListener("click", downloadAll);
  setupSteeringControls();
  window.addEventListener("resize", fitViewer);
  loadSettings().then(() => { $("controls-hint").hidden = false; });
}

setup();
