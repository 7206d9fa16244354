/**
 * A small Fireproof app, written against `use-fireproof` the way its
 * users write apps: the runner bundles it twice, once with the real
 * `use-fireproof` and once with `use-fireproof` aliased to
 * `@hearth/use-fireproof`, and runs the same steps on both. Nothing in it
 * knows which one it got.
 *
 * @module
 */
import { useFireproof } from "use-fireproof";

interface Todo {
  type: "todo";
  text: string;
  done: boolean;
}

export function TodoApp({ name }: { name: string }) {
  const { database, useLiveQuery, useDocument } = useFireproof(name);
  const todos = useLiveQuery<Todo>("type", { key: "todo" });
  const { doc, merge, submit } = useDocument<Todo>({ type: "todo", text: "", done: false });
  const left = todos.docs.filter((t) => !t.done).length;
  return (
    <div>
      <form onSubmit={(e) => void submit(e.nativeEvent)}>
        <input aria-label="new todo" value={doc.text} onChange={(e) => merge({ text: e.target.value })} />
        <button type="submit">Add</button>
      </form>
      <ul aria-label="todos">
        {todos.docs.map((t) => (
          <li key={t._id}>
            <label>
              <input type="checkbox" checked={t.done} onChange={() => void database.put({ ...t, done: !t.done })} />
              {t.text}
            </label>
          </li>
        ))}
      </ul>
      <p data-testid="left">{`${left} left`}</p>
    </div>
  );
}
