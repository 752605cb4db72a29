// Live countdowns for the policy's deadlines: every <time data-due> says how long is left or how late it is.
// The server renders the first text (so it reads right without JavaScript); this keeps it current.

function words(seconds, units) {
  const minutes = Math.max(0, Math.floor(seconds / 60));
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days) return units.d.replace("{d}", days).replace("{h}", hours);
  if (hours) return units.h.replace("{h}", hours).replace("{m}", mins);
  return units.m.replace("{m}", mins);
}

function refresh(units) {
  const now = Date.now();
  for (const el of document.querySelectorAll("time[data-due]")) {
    const seconds = (Date.parse(el.dataset.due) - now) / 1000;
    const template = seconds >= 0 ? el.dataset.left : el.dataset.over;
    el.textContent = template.replace("{t}", words(Math.abs(seconds), units));
    const holder = el.closest(".deadline, .clock");
    if (holder && seconds < 0) {
      holder.classList.remove("soon", "clock-soon", "clock-pending");
      holder.classList.add(holder.classList.contains("clock") ? "clock-overdue" : "overdue");
    }
  }
}

const source = document.getElementById("duration-units");
if (source) {
  const units = { d: source.dataset.d, h: source.dataset.h, m: source.dataset.m };
  refresh(units);
  setInterval(() => refresh(units), 30000);
}
