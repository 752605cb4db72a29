// The "progress notes and photos" step: notes, photos taken (downscaled on the phone, captioned, then added to the
// job as ops), photos already sent (full size over the page).
import * as store from "./store.js";
import * as flow from "./flow.js";
import { act, queued } from "./acts.js";
import {
  bigButton, checkRow, draftInput, field, forgetDrafts, h, offer, renderStatus, rerender, t, time,
} from "./ui.js";

// Photos are downscaled on the phone before they are stored (at most 1600 px, JPEG).
export async function downscale(file) {
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

// Photos go into the outbox as they are taken (one tap), with the caption written before, if any.
async function addPhotos(ctx, files, caption) {
  const { job, key } = ctx;
  for (const file of files) {
    await store.addOp("photo.added", job.number, { caption: caption.value.trim() }, await downscale(file));
  }
  await forgetDrafts([key("photo-caption")]);
  await queued();
  rerender();
}

function cameraButton(ctx, caption, count) {
  const camera = h("input", { type: "file", accept: "image/*", capture: "environment", class: "visually-hidden",
    onchange: () => {
      const files = [...camera.files];
      camera.value = "";
      if (files.length) addPhotos(ctx, files, caption);
    } });
  return h("label", { class: "button wide camera" }, camera, h("span", { class: "camera-icon", "aria-hidden": "true" }),
    h("span", {}, count ? t("another_photo") : t("take_photo")));
}

// Photos kept by an earlier version of the app until a second tap: added to the job now, nothing lost.
export async function addLeftoverPhotos(number) {
  const staged = (await store.getDraft(`${number}:photos`)) || [];
  for (const p of staged) await store.addOp("photo.added", number, { caption: (p.caption || "").trim() }, p.blob);
  if (staged.length) { await store.clearDraft(`${number}:photos`); await queued(); }
  return staged.length;
}

export function workStep(ctx, refusal) {
  const photos = ctx.job.photos || [];
  const photoRefusal = refusal || flow.check(ctx.declaration, ctx.facts, "photo.added");
  const caption = draftInput(ctx.key("photo-caption"), { type: "text" });
  return [
    ...notesPart(ctx, refusal),
    h("h3", {}, t("photos")),
    photos.length ? h("p", { class: "muted" }, t("photos_count", { n: photos.length })) : null,
    h("ul", { class: "thumbs" }, photos.filter((p) => p.pending || p.thumb_url).map(sentPhoto)),
    photoRefusal ? h("p", { class: "why" }, photoRefusal.message) : [
      field(t("photo_caption_next"), caption), cameraButton(ctx, caption, photos.length)],
  ];
}
