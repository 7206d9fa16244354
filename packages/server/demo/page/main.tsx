/**
 * The app behind `npm start`: shared lists whose items can carry photos,
 * kept in a Hearth ledger in this browser (IndexedDB, one database for
 * every tab of the origin), end-to-end encrypted, synced through the
 * Hearth server that served the page. Small on purpose: it is also the
 * example of how an app uses `@hearth/core` and `@hearth/react`.
 *
 * The sync point's token comes in the URL fragment (`#token=…`), which
 * browsers never send to a server, so it stays out of request logs.
 *
 * @module
 */
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app.js";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
