// The intake form's "registered device" field: suggestions from the register as customer service types (asset or
// serial number, model, customer). The form works without this file: an exact asset or serial number is enough.
const input = document.getElementById("device_ref");
if (input) {
  const list = document.createElement("datalist");
  list.id = "device-matches";
  input.after(list);
  input.setAttribute("list", list.id);
  let timer = null;
  let last = "";
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (q.length < 2 || q === last) return;
    timer = setTimeout(async () => {
      last = q;
      try {
        const response = await fetch(`/api/v1/devices?limit=10&q=${encodeURIComponent(q)}`,
                                     { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) return;
        const { items } = await response.json();
        list.replaceChildren(...items.map((d) => {
          const option = document.createElement("option");
          option.value = d.asset_number;
          option.label = [d.model, d.serial_number, d.customer].filter(Boolean).join(" · ");
          return option;
        }));
      } catch {
        // No suggestions offline; typing the number still works.
      }
    }, 250);
  });
}
