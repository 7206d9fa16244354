/**
 * Drives the example app (example-app.tsx) like a user, against whichever
 * `use-fireproof` the runner bundled it with, and checks what the page
 * shows and what the database holds (through `fireproof(name)` from the
 * same package). Same page protocol as core's browser runner.
 *
 * @module
 */
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { flushSync } from "react-dom";
import { screen, waitFor } from "@testing-library/react";
import { fireEvent } from "@testing-library/dom";
import { check, runCases } from "../../../core/test/browser/page-cases.js";
import { fireproof } from "use-fireproof";
import { TodoApp } from "./example-app.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;

const WAIT = { timeout: 15_000 };

async function addTodo(text: string): Promise<void> {
  const input = screen.getByLabelText("new todo") as HTMLInputElement;
  fireEvent.change(input, { target: { value: text } });
  await waitFor(() => check(input.value === text, `the input to show ${text}`), WAIT);
  fireEvent.submit(input.closest("form")!);
  await waitFor(() => check(screen.queryByText(text) !== null, `${text} in the list`), WAIT);
  await waitFor(() => check((screen.getByLabelText("new todo") as HTMLInputElement).value === "", "the form to reset"), WAIT);
}

async function run(): Promise<void> {
  const name = `example-${Date.now()}`;
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  flushSync(() =>
    root.render(
      <StrictMode>
        <TodoApp name={name} />
      </StrictMode>,
    ),
  );
  await waitFor(() => check(screen.getByTestId("left").textContent === "0 left", "an empty list"), WAIT);
  await addTodo("buy milk");
  await addTodo("call mum");
  await waitFor(() => check(screen.getByTestId("left").textContent === "2 left", `2 left, got ${screen.getByTestId("left").textContent}`), WAIT);
  fireEvent.click(screen.getByLabelText("buy milk"));
  await waitFor(() => check(screen.getByTestId("left").textContent === "1 left", `1 left, got ${screen.getByTestId("left").textContent}`), WAIT);
  const items = screen.getAllByRole("listitem").map((li) => li.textContent);
  check(items.length === 2 && items.includes("buy milk") && items.includes("call mum"), `both todos listed, got ${items.join(", ")}`);
  // What the database holds, read the Fireproof way.
  const db = fireproof(name);
  const { rows } = await db.allDocs<{ text: string; done: boolean }>();
  const saved = rows.map((r) => `${r.value.text}:${r.value.done}`).sort();
  check(JSON.stringify(saved) === JSON.stringify(["buy milk:true", "call mum:false"]), `stored ${saved.join(", ")}`);
  flushSync(() => root.unmount());
}

void runCases([{ name: "the example app: add two todos, tick one, and read them back with fireproof(name)", run }]);
