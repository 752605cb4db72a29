// The "progress notes and photos" step: notes, photos taken (downscaled on the phone, captioned, then added to the
// job as ops), photos already sent (full size over the page).
import * as store from "./store.js";
import * as flow from "./flow.js";
import { act, queued } from "./acts.js";
import { bigButton, checkRow, draftInput, field, h, offer, renderStatus, rerender, t, time } from "./ui.js";

export const stagedPhotos = new Map(); // photos chosen, downscaled, not yet added: {id, blob, caption}, by job
const photoUrls = new Map();    // their object URLs, made once (the markup stays the same between drawings)

// Photos are downscaled on the phone before they are stored (at most 1600 px, JPEG).
async function downscale(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

// A photo sent earlier, full size over the page. Offline the full size is not on the phone (only thumbnails
// are kept): its thumbnail is shown instead, saying so.
function showPhoto(photo) {
  const note = h("p", { class: "muted", hidden: true }, t("photo_full_offline"));
  const image = h("img", { src: photo.url, alt: photo.caption || t("photo"), onerror: () => {
    if (image.src.endsWith(photo.thumb_url)) return;
    image.src = photo.thumb_url;
    note.hidden = false;
  } });
  const view = h("dialog", { class: "photo-view", onclose: () => view.remove() },
    image, photo.caption ? h("p", {}, photo.caption) : null, note,
    h("button", { type: "button", class: "button wide secondary", onclick: () => view.close() }, t("photo_close")));
  document.body.append(view);
  view.showModal();
}

function notesPart(ctx, refusal) {
  const { job, key } = ctx;
  const noteText = draftInput(key("note"), { rows: 2 }, "textarea");
  const shown = h("input", { type: "checkbox" });  // internal unless the technician chooses to show it
  return [
    h("ul", { class: "timeline" }, (job.notes || []).map((n) => h("li", {}, h("time", {}, time(n.at)), ` ${n.text}`,
      n.shown_to_customer ? h("span", { class: "badge" }, t("for_customer")) : null))),
    field(t("note"), noteText),
    checkRow(shown, t("show_customer")),
    offer(refusal, bigButton(t("add_note"), () => noteText.value.trim() && act("note.added", job,
      { note_id: crypto.randomUUID(), text: noteText.value.trim(), shown_to_customer: shown.checked }, null,
      [key("note")]), "secondary")),
  ];
}

function sentPhoto(p) {
  return h("li", {},
    p.thumb_url ? h("button", { type: "button", class: "thumb-open", onclick: () => showPhoto(p),
      "aria-label": t("photo_open", { caption: p.caption || t("photo") }) },
    h("img", { src: p.thumb_url, alt: p.caption || t("photo"), width: 96, height: 96 })) :
      h("span", { class: "thumb-waiting" }, t("photo_waiting")),
    h("span", {}, p.caption || ""),
    p.pending ? h("button", { type: "button", class: "button small secondary", onclick: async () => {
      await store.deletePendingPhoto(p.op_id); await renderStatus(); rerender();
    } }, t("take_back")) : null);
}

function stagedPhoto(p, i, staged, save) {
  if (!photoUrls.has(p.id)) photoUrls.set(p.id, URL.createObjectURL(p.blob));
  const url = photoUrls.get(p.id);
  const caption = h("input", { type: "text", value: p.caption || "", oninput: () => { p.caption = caption.value; save(); } });
  return h("li", {}, h("img", { src: url, alt: t("photo_n", { n: i + 1 }), width: 96, height: 96 }),
    field(t("caption_n", { n: i + 1 }), caption),
    h("button", { type: "button", class: "button small danger", onclick: async () => {
      staged.splice(i, 1); URL.revokeObjectURL(url); photoUrls.delete(p.id); await save(); rerender();
    } }, t("delete_photo_n", { n: i + 1 })));
}

function cameraButton(number, staged) {
  const camera = h("input", { type: "file", accept: "image/*", capture: "environment", class: "visually-hidden",
    onchange: async () => {
      const files = [...camera.files];
      camera.value = "";
      for (const file of files) staged.push({ id: crypto.randomUUID(), blob: await downscale(file), caption: "" });
      stagedPhotos.set(number, staged);
      await store.setDraft(`${number}:photos`, staged);
      rerender();
    } });
  return h("label", { class: "button wide camera" }, camera, h("span", { class: "camera-icon", "aria-hidden": "true" }),
    h("span", {}, staged.length ? t("another_photo") : t("take_photo")));
}

// The photos chosen become ops (one each, sent as files), in the order taken.
async function addStaged(number, staged, save) {
  const taken = staged.splice(0, staged.length);
  await save();
  for (const p of taken) { URL.revokeObjectURL(photoUrls.get(p.id)); photoUrls.delete(p.id); }
  for (const p of taken) await store.addOp("photo.added", number, { caption: (p.caption || "").trim() }, p.blob);
  await queued();
  rerender();
}

export function workStep(ctx, refusal) {
  const number = ctx.job.number;
  const photos = ctx.job.photos || [];
  const staged = stagedPhotos.get(number) || [];
  const save = () => store.setDraft(`${number}:photos`, staged);
  return [
    ...notesPart(ctx, refusal),
    h("h3", {}, t("photos")),
    photos.length ? h("p", { class: "muted" }, t("photos_count", { n: photos.length })) : null,
    h("ul", { class: "thumbs" }, photos.filter((p) => p.pending || p.thumb_url).map(sentPhoto)),
    staged.length ? h("ul", { class: "thumbs staged" }, staged.map((p, i) => stagedPhoto(p, i, staged, save))) : null,
    cameraButton(number, staged),
    staged.length ? offer(refusal && flow.check(ctx.declaration, ctx.facts, "photo.added"), bigButton(
      t("add_photos", { n: staged.length }), () => addStaged(number, staged, save))) : null,
  ];
}
