// hookledger console: the little JavaScript the pages need. Everything works without it
// except the timeline's live tail and the seq slider of the trial balance.
"use strict";

// Live tail: polls the server for events after the newest one shown, with the page's
// filters, and puts the rows (rendered and escaped by the server) on top of the table.
function startTail(table) {
  const toggle = document.getElementById("live");
  const status = document.getElementById("tail-status");
  const body = table.querySelector("tbody");
  const rowsMax = 500;
  let last = table.dataset.lastSeq || "0";
  let added = 0;
  async function poll() {
    if (!toggle || toggle.checked) {
      try {
        const response = await fetch(table.dataset.tailUrl + "&after_seq=" + encodeURIComponent(last), {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.ok) {
          const tail = await response.json();
          if (tail.count > 0) {
            const empty = body.querySelector("tr.empty");
            if (empty) empty.remove();
            body.insertAdjacentHTML("afterbegin", tail.html);
            last = String(tail.last_seq);
            table.dataset.lastSeq = last;
            added += tail.count;
            while (body.rows.length > rowsMax) body.deleteRow(body.rows.length - 1);
          }
          const badge = document.getElementById("chain-badge");
          if (badge && tail.badge) badge.outerHTML = tail.badge;
          if (status) status.textContent = "live: " + added + " new since the page loaded";
        } else if (status) {
          status.textContent = "live tail stopped: " + response.status + " (sign in again?)";
          return;
        }
      } catch (e) {
        if (status) status.textContent = "live tail: server unreachable, retrying";
      }
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 2000);
}

// The trial balance's seq slider and number field move together.
function linkSeqPicker() {
  const range = document.getElementById("seq-range");
  const number = document.getElementById("seq-input");
  if (!range || !number) return;
  range.addEventListener("input", () => { number.value = range.value; });
  number.addEventListener("input", () => { range.value = number.value; });
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("timeline");
  if (table && table.dataset.tailUrl) startTail(table);
  linkSeqPicker();
});
