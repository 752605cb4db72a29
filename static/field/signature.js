// The customer's signature pad: a high-DPI canvas that keeps its strokes across rotation and resizing,
// so a signature is never blurred or wiped.
import SignaturePad from "../vendor/signature_pad-5.1.4/signature_pad.min.js";

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
    png: () => pad.toDataURL("image/png"),
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
