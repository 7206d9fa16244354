/**
 * Files from a real `<input type=file>`: the page adds the input, the runner
 * (`run.mjs`) chooses a file for it as a user would (Playwright's
 * `setInputFiles`), and the case stores that `File` in an IndexedDB ledger,
 * reopens it, and reads it back as a stream.
 *
 * @module
 */
import type { TestCase } from "../../src/testing/harness.js";
import { check, checkEqual } from "../../src/testing/harness.js";
import { open } from "../../src/index.browser.js";

/** The input's element id; `run.mjs` sets its file. */
export const FILE_INPUT_ID = "hearth-file";
/** The chosen file's size: three chunks and a bit. */
export const CHOSEN_FILE_BYTES = 3 * 1024 * 1024 + 5;
const WAIT_MS = 30_000;

/** Byte `i` of the chosen file (`run.mjs` builds the same bytes). */
export const chosenByte = (i: number): number => (i * 7 + (i >> 8)) & 0xff;

/** Adds the input to the page now, so the runner can fill it while the suites before this one run. */
export function addFileInput(): HTMLInputElement {
  const input = document.createElement("input");
  input.type = "file";
  input.id = FILE_INPUT_ID;
  document.body.append(input);
  return input;
}

/** The cases; `input` is the element {@link addFileInput} added. */
export function fileInputCases(input: HTMLInputElement, uniqueUrl: (label: string) => string): TestCase[] {
  return [
    {
      name: "files: a File chosen in <input type=file> is stored in IndexedDB and read back after reopen",
      async run() {
        const file = await chosenFile(input);
        checkEqual(file.size, CHOSEN_FILE_BYTES);
        const store = uniqueUrl("files");
        const keyring = uniqueUrl("files-keyring");
        const db = await open("browser-files", { store, keyring });
        await db.put({ _id: "photo", caption: "the lake", _files: { [file.name]: file } });
        await db.close();
        const again = await open("browser-files", { store, keyring });
        try {
          const stored = (await again.get("photo"))._files![file.name]!;
          checkEqual(stored.type, "image/jpeg");
          checkEqual(stored.size, CHOSEN_FILE_BYTES);
          checkEqual(stored.lastModified, file.lastModified);
          const reader = stored.stream().getReader();
          let at = 0;
          let wrong = -1;
          for (let next = await reader.read(); !next.done; next = await reader.read()) {
            for (let i = 0; i < next.value.length && wrong < 0; i++) if (next.value[i] !== chosenByte(at + i)) wrong = at + i;
            at += next.value.length;
          }
          checkEqual(at, CHOSEN_FILE_BYTES);
          check(wrong < 0, `byte ${wrong} read back differs from the chosen file's`);
          const whole = await stored.file();
          checkEqual(whole.name, file.name);
        } finally {
          await again.destroy();
        }
      },
    },
  ];
}

/** The file the runner chose, once it has (with a deadline). */
function chosenFile(input: HTMLInputElement): Promise<File> {
  const now = input.files?.[0];
  if (now) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no file was chosen in #${FILE_INPUT_ID} within ${WAIT_MS} ms (run.mjs sets it)`)), WAIT_MS);
    input.addEventListener("change", () => {
      clearTimeout(timer);
      const file = input.files?.[0];
      if (file) resolve(file);
      else reject(new Error(`#${FILE_INPUT_ID} changed with no file`));
    }, { once: true });
  });
}
