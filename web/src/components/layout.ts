// The panels' saved positions and the app bar's "Reset layout": apart from Panel.tsx, so the app shell does
// not load the panels' drawer and modal code on every page.
export const KEY = "kaizenlap.panels";
export const RESET_EVENT = "kaizenlap:reset-layout";

export function resetLayout() {
  localStorage.removeItem(KEY);
  window.dispatchEvent(new Event(RESET_EVENT));
}
