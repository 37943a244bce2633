// The Colorizer web page: pick or drop a photo, see it in gray, colorize it on the
// server, compare before/after with a slider, change the vibrance, download.
"use strict";

const $ = (id) => document.getElementById(id);
const PREVIEW_MAX_SIDE = 2048;  // the gray preview canvas; the result keeps full size

let currentFile = null;   // the File being worked on
let resultUrl = null;     // object URL of the current result
let inFlight = null;      // AbortController of the running request
let maxBytes = null;      // from /api/health
let vibranceDigits = 2;   // decimals shown for the vibrance, from its step

// Display names for the colour-class decodings the server offers (others show their own name).
const DECODING_LABELS = {
  "min-risk": ["faithful", "the colour least wrong on average (min-risk decoding)"],
  "annealed-mean": ["bold", "Zhang et al.'s annealed mean, more vivid and more often wrong"],
};

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message || "";
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  if (message) setState("error", "");
}

function showNotes(text) {
  $("notes").textContent = text ? "Note: " + text : "";
  $("notes").hidden = !text;
}

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

// Limits, defaults and ranges from the server. Until they are known (or if they cannot
// be), the controls stay hidden and requests use the server's defaults.
async function loadLimits() {
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
    $("limits").textContent = `Up to ${(maxBytes / 1e6).toFixed(0)} MB and ` +
      `${(h.limits.max_pixels / 1e6).toFixed(0)} megapixels. JPEG, PNG, WebP, TIFF, BMP, GIF.`;
  } catch (e) { /* the page still works without the limits */ }
}

// Draw the photo on the "before" canvas in gray (Rec. 709 luma of the sRGB values).
async function showGrayPreview(file) {
  const compare = $("compare");
  const canvas = $("before");
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (e) {
    compare.classList.add("no-preview");
    return false;  // a format this browser cannot show (TIFF...): the server can still read it
  }
  compare.classList.remove("no-preview");
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
  return true;
}

function filenameFrom(response, fallback) {
  const cd = response.headers.get("Content-Disposition") || "";
  const m = /filename="([^"]+)"/.exec(cd);
  return m ? m[1] : fallback;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return `the server answered ${response.status}`;
}

function resetResult() {
  $("after").hidden = true;
  $("divider").hidden = true;
  $("tag-after").hidden = true;
  $("split").disabled = true;
  const a = $("download");
  a.setAttribute("aria-disabled", "true");
  a.removeAttribute("download");
  a.href = "#";
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = null;
}

async function colorize() {
  if (!currentFile) return;
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  showError("");
  setState("working", "Colorizing…");
  const form = new FormData();
  form.append("image", currentFile, currentFile.name);
  if (!$("vibrance-label").hidden) form.append("vibrance", $("vibrance").value);
  if (!$("decoding-label").hidden) form.append("decoding", $("decoding").value);
  let response, blob;
  try {
    response = await fetch("/api/colorize", { method: "POST", body: form, signal: controller.signal });
    if (!response.ok) {
      showError("Could not colorize: " + (await errorMessage(response)));
      return;
    }
    blob = await response.blob();
  } catch (e) {
    if (e.name !== "AbortError") showError("Could not reach the server: " + e.message);
    return;
  } finally {
    if (inFlight === controller) inFlight = null;
  }
  if (controller.signal.aborted) return;
  showResult(blob, filenameFrom(response, "photo-color.png"));
  showNotes(response.headers.get("X-Colorizer-Notes"));
}

function showResult(blob, filename) {
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = URL.createObjectURL(blob);
  const img = $("after");
  img.onload = () => {
    img.hidden = false;
    $("tag-after").hidden = false;
    $("divider").hidden = $("compare").classList.contains("no-preview");
    $("split").disabled = false;
    updateSplit();
    setState("done", "Done.");
  };
  img.onerror = () => showError("The browser cannot display the result.");
  img.src = resultUrl;
  const a = $("download");
  a.href = resultUrl;
  a.download = filename;
  a.setAttribute("aria-disabled", "false");
}

// Left of the slider: the gray input; right of it: the colorized result.
function updateSplit() {
  const v = Number($("split").value);
  const noPreview = $("compare").classList.contains("no-preview");
  $("after").style.clipPath = noPreview ? "none" : `inset(0 0 0 ${v}%)`;
  $("divider").style.left = `${v}%`;
}

async function useFile(file) {
  if (!file) return;
  showError("");
  showNotes("");
  if (maxBytes && file.size > maxBytes) {
    showError(`This file is ${(file.size / 1e6).toFixed(1)} MB; the limit is ${(maxBytes / 1e6).toFixed(0)} MB.`);
    return;
  }
  if (file.size === 0) {
    showError("This file is empty.");
    return;
  }
  currentFile = file;
  resetResult();
  $("work").hidden = false;
  const shown = await showGrayPreview(file);
  if (!shown) showNotes("your browser cannot preview this format; the server will still try it");
  await colorize();
}

function setupDrop() {
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) useFile(file);
  });
  // dropping a photo elsewhere on the page must not navigate away from it
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

function setup() {
  setupDrop();
  $("file").addEventListener("change", (e) => {
    useFile(e.target.files[0]);
    e.target.value = "";  // choosing the same file again re-runs it
  });
  $("split").addEventListener("input", updateSplit);
  $("vibrance").addEventListener("input", showVibrance);
  $("vibrance").addEventListener("change", colorize);
  $("decoding").addEventListener("change", colorize);
  loadLimits();
}

setup();
