// The report page works without this file: it only shows previews of the chosen photos and keeps to the limit.
const input = document.getElementById("photos");
const box = document.getElementById("previews");
if (input && box) {
  input.addEventListener("change", () => {
    box.replaceChildren();
    const files = Array.from(input.files || []).slice(0, 3);
    for (const file of files) {
      if (!file.type.startsWith("image/")) continue;
      const img = document.createElement("img");
      img.alt = file.name;
      img.src = URL.createObjectURL(file);
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
      box.append(img);
    }
    box.hidden = files.length === 0;
  });
}
