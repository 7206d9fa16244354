/**
 * The lists and their items. Documents:
 *
 * - a list: `{ type: "list", title }`;
 * - an item: `{ type: "item", list: <list id>, title, done }`, with an
 *   optional photo in `_files.photo` (end-to-end encrypted like the rest,
 *   synced in the background, fetched by other devices as they see it).
 *
 * The lists come from a live query on `type`, a list's items from one on
 * `list` (both updated from each change, in every tab). Each item row keeps
 * its own `useDocument`, which says when it has conflicting versions
 * (written on two devices at once) and keeps an edit in progress when the
 * item changes elsewhere.
 *
 * @module
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import type { Attachment, Doc, DocFile, Ledger } from "@hearth/core";
import { useDocument, useLiveQuery } from "@hearth/react";
import { describe } from "./app.js";

interface ListDoc extends Doc {
  type: "list";
  title: string;
}

/** The lists beside the items of the one chosen. */
export function Lists({ db, attachment, removed }: { db: Ledger; attachment: Attachment; removed: boolean }): ReactNode {
  const { docs: lists, hydrated } = useLiveQuery(db, "type", { key: "list" });
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  const [title, setTitle] = useState("");
  const sorted = [...(lists as ListDoc[])].sort((a, b) => a.title.localeCompare(b.title));
  const current = sorted.find((l) => l._id === chosen) ?? sorted[0];

  const add = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const name = title.trim();
    if (!name) return;
    setTitle("");
    const { id } = await db.put({ type: "list", title: name });
    setChosen(id);
  };
  return (
    <>
      {removed && (
        <p className="banner error wide" role="alert" data-testid="removed">
          This device was removed from these lists. It keeps what it had; new changes no longer reach it, and its own stay here.
        </p>
      )}
      <nav className="sidebar card" aria-label="lists">
        <h2>Lists</h2>
        <ul className="lists">
          {sorted.map((list) => (
            <li key={list._id}>
              <button type="button" className={list._id === current?._id ? "list active" : "list"} onClick={() => setChosen(list._id)}>
                {list.title}
              </button>
            </li>
          ))}
        </ul>
        {hydrated && sorted.length === 0 && <p className="muted small">No lists yet.</p>}
        <form onSubmit={(e) => void add(e)} className="row">
          <input aria-label="new list" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="New list" maxLength={80} disabled={removed} />
          <button type="submit" disabled={removed}>Add</button>
        </form>
      </nav>
      <section className="items card" aria-label="items">
        {current ? <Items db={db} list={current} readOnly={removed} attachment={attachment} /> : <p className="muted center">Make a list to start.</p>}
      </section>
    </>
  );
}

function Items({ db, list, readOnly, attachment }: { db: Ledger; list: ListDoc; readOnly: boolean; attachment: Attachment }): ReactNode {
  const { docs } = useLiveQuery(db, "list", { key: list._id });
  const [title, setTitle] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const add = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const name = title.trim();
    if (!name) return;
    setTitle("");
    try {
      await db.put({ type: "item", list: list._id, title: name, done: false });
      setError(undefined);
    } catch (err) {
      setError(describe(err));
    }
  };
  const open = docs.filter((d) => !d.done).length;
  return (
    <>
      <div className="items-head">
        <h2>{list.title}</h2>
        <span className="muted small">{docs.length === 0 ? "empty" : `${open} of ${docs.length} to do`}</span>
      </div>
      <form onSubmit={(e) => void add(e)} className="row">
        <input aria-label="new item" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="Add an item" maxLength={200} disabled={readOnly} />
        <button type="submit" disabled={readOnly}>Add</button>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
      <ul className="item-list">
        {[...docs]
          .sort((a, b) => Number(a.done === true) - Number(b.done === true) || String(a.title).localeCompare(String(b.title)))
          .map((doc) => (
            <ItemRow key={doc._id} db={db} id={doc._id} readOnly={readOnly} attachment={attachment} />
          ))}
      </ul>
    </>
  );
}

interface ItemDoc {
  _id?: string;
  type: "item";
  list: string;
  title: string;
  done: boolean;
  _files?: Record<string, DocFile>;
}

function ItemRow({ db, id, readOnly, attachment }: { db: Ledger; id: string; readOnly: boolean; attachment: Attachment }): ReactNode {
  const item = useDocument<ItemDoc & Record<string, unknown>>(db, id);
  const [error, setError] = useState<string | undefined>(undefined);
  const run = (work: Promise<unknown>): void => {
    work.then(() => setError(undefined), (err: unknown) => setError(describe(err)));
  };
  const photo = item.doc._files?.photo;
  const title = String(item.doc.title ?? "");
  if (!item.hydrated) return null;
  return (
    <li className={item.doc.done ? "item done" : "item"} data-title={title} data-done={String(item.doc.done === true)}>
      <label className="check">
        <input type="checkbox" aria-label={`done: ${title}`} checked={item.doc.done === true} disabled={readOnly} onChange={(e) => run(item.save({ done: e.target.checked }))} />
      </label>
      <span className="title">{title}</span>
      {item.conflicts.length > 0 && (
        <span className="badge warn" title={`Also written as: ${item.conflicts.map((c) => `${String(c.title)}${c.done ? " (done)" : ""}`).join(", ")}`} data-testid="conflict">
          changed on two devices
          {!readOnly && (
            <button type="button" className="link" onClick={() => run(item.save())}>
              keep this
            </button>
          )}
        </span>
      )}
      {item.changedElsewhere !== undefined && <span className="badge">changed elsewhere</span>}
      {photo && <Photo file={photo} title={title} attachment={attachment} />}
      {!readOnly && (
        <span className="actions">
          <label className="icon-button" title="Add a photo">
            <CameraIcon />
            <input
              type="file"
              accept="image/*"
              aria-label={`photo for ${title}`}
              hidden
              onChange={(e) => {
                const file = e.target.files?.[0];
                if (file) run(db.put({ ...item.doc, _files: { photo: file } } as never));
              }}
            />
          </label>
          <button type="button" className="icon-button" aria-label={`delete ${title}`} onClick={() => run(db.del(id))}>
            <CrossIcon />
          </button>
        </span>
      )}
      {error && <span className="error small" role="alert">{error}</span>}
    </li>
  );
}

/**
 * A photo: a thumbnail that opens full size; read from this device, or
 * fetched from the sync point. A photo whose bytes are still on their way
 * (its document arrived first) is read again as file bytes arrive.
 */
function Photo({ file, title, attachment }: { file: DocFile; title: string; attachment: Attachment }): ReactNode {
  const [url, setUrl] = useState<string | undefined>(undefined);
  const [open, setOpen] = useState(false);
  const [failed, setFailed] = useState<string | undefined>(undefined);
  const [tries, setTries] = useState(0);
  // The object URL lives as long as it is shown: revoked when replaced, and when the photo goes.
  const shown = useRef<string | undefined>(undefined);
  useEffect(
    () => () => {
      if (shown.current) URL.revokeObjectURL(shown.current);
      shown.current = undefined;
    },
    [],
  );
  useEffect(() => {
    if (!failed) return;
    return attachment.on("progress", () => setTries((n) => n + 1));
  }, [failed, attachment]);
  useEffect(() => {
    let active = true;
    file.file().then(
      (blob) => {
        if (!active) return;
        const made = URL.createObjectURL(blob);
        if (shown.current) URL.revokeObjectURL(shown.current);
        shown.current = made;
        setUrl(made);
        setFailed(undefined);
      },
      (err: unknown) => active && setFailed(describe(err)),
    );
    return () => {
      active = false;
    };
  }, [file.cid, tries]); // the same file (by content), the same URL
  if (!url && failed) return <span className="badge warn" title={failed}>photo on its way</span>;
  if (!url) return <span className="thumb loading" aria-label="photo loading" />;
  return (
    <>
      <button type="button" className="thumb" onClick={() => setOpen(true)} aria-label={`open the photo of ${title}`}>
        <img src={url} alt={`photo of ${title}`} />
      </button>
      {open && (
        <div className="lightbox" role="dialog" aria-label={`photo of ${title}`} onClick={() => setOpen(false)}>
          <img src={url} alt={`photo of ${title}, full size`} />
        </div>
      )}
    </>
  );
}

function CameraIcon(): ReactNode {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" aria-hidden>
      <path d="M4 8h3l2-3h6l2 3h3a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V9a1 1 0 0 1 1-1z" />
      <circle cx="12" cy="13.5" r="3.5" />
    </svg>
  );
}

function CrossIcon(): ReactNode {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" aria-hidden>
      <path d="M6 6l12 12M18 6L6 18" />
    </svg>
  );
}
