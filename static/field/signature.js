// The customer's signature pad: a high-DPI canvas that keeps its strokes across rotation and resizing,
// so a signature is never blurred or wiped.
import SignaturePad from "../vendor/signature_pad-5.1.4/signature_pad.min.js";

// The ink as the server finds it (domain/fieldwork/signing.py): each pixel flattened onto white and turned to grey
// as Pillow does (ITU-R 601-2 luma, fixed point), ink where darker than the threshold. Its count and bounding box.
const flat = (c, a) => Math.round((c * a + 255 * (255 - a)) / 255);

export function inkOf(pixels, width, height, threshold) {
  let count = 0, left = width, top = height, right = -1, bottom = -1;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 4) {
      const a = pixels[i + 3];
      if (!a) continue;
      const grey = (flat(pixels[i], a) * 19595 + flat(pixels[i + 1], a) * 38470 + flat(pixels[i + 2], a) * 7471
        + 0x8000) >> 16;
      if (grey >= threshold) continue;
      count++;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  return { count, box: count ? { left, top, right: right + 1, bottom: bottom + 1 } : null };
}

const MARGIN = 8;      // CSS px of paper kept around the ink
const MAX_DENSITY = 2; // device px per CSS px sent: a 70 mm wide signature on the order stays sharp at 2

// The PNG to send, or null when the server would find it blank (rules: signing.pad_rules). Cropped to the ink and
// at most MAX_DENSITY: a 3x phone's whole pad is ~1070x660 px, 15 ms of the server's time to decode and check on
// the signing request; trimmed, a fraction of that, and a smaller upload. The check runs on the pixels sent.
export function signaturePng(canvas, rules) {
  if (!canvas.width || !canvas.height) return null;  // not laid out: nothing drawn to send
  const density = canvas.width / (canvas.offsetWidth || canvas.width);
  const drawn = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const found = inkOf(drawn.data, canvas.width, canvas.height, rules.ink_threshold);
  if (found.count < rules.min_ink_pixels) return null;
  const margin = Math.round(MARGIN * density);
  const left = Math.max(0, found.box.left - margin), top = Math.max(0, found.box.top - margin);
  const width = Math.min(canvas.width, found.box.right + margin) - left;
  const height = Math.min(canvas.height, found.box.bottom + margin) - top;
  const [minW, minH] = rules.min_size, [maxW, maxH] = rules.max_size;
  const scale = Math.min(1, MAX_DENSITY / density, maxW / width, maxH / height);
  const w = Math.max(minW, Math.round(width * scale)), h = Math.max(minH, Math.round(height * scale));
  const out = document.createElement("canvas");
  out.width = w;
  out.height = h;
  const context = out.getContext("2d");
  // Centred when the ink is smaller than the least size the server takes.
  context.drawImage(canvas, left, top, width, height, (w - width * scale) / 2, (h - height * scale) / 2,
    width * scale, height * scale);
  if (inkOf(context.getImageData(0, 0, w, h).data, w, h, rules.ink_threshold).count < rules.min_ink_pixels) return null;
  return out.toDataURL("image/png");
}

export function mountSignature(canvas, onChange) {
  const pad = new SignaturePad(canvas, { minWidth: 0.8, maxWidth: 2.6, penColor: "#111",
    backgroundColor: "rgba(0,0,0,0)" });
  function fit() {
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    const data = pad.toData();
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    pad.clear();
    pad.fromData(data);  // redraw the strokes at the new size instead of losing them
  }
  const observer = new ResizeObserver(fit);
  observer.observe(canvas);
  fit();
  pad.addEventListener("endStroke", () => onChange && onChange(pad));
  return {
    pad,
    isEmpty: () => pad.isEmpty(),
    clear: () => { pad.clear(); onChange && onChange(pad); },
    png: (rules) => signaturePng(canvas, rules),
    strokes: () => pad.toData().map((group) => group.points.map((p) => [Math.round(p.x), Math.round(p.y), p.time])),
    load: (data) => { if (data) { pad.fromData(data); } },
    // The signature the server refused, drawn again from the strokes kept in the refused op.
    loadStrokes: (groups) => {
      if (!Array.isArray(groups) || !groups.length) return;
      pad.fromData(groups.map((points) => ({ penColor: "#111", dotSize: 0, minWidth: 0.8, maxWidth: 2.6,
        velocityFilterWeight: 0.7, compositeOperation: "source-over",
        points: points.map(([x, y, time]) => ({ x, y, time, pressure: 0.5 })) })));
      onChange && onChange(pad);
    },
    undo: () => { const data = pad.toData(); data.pop(); pad.fromData(data); onChange && onChange(pad); },
    data: () => pad.toData(),
    destroy: () => observer.disconnect(),
  };
}
