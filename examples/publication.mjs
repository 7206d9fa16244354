// Pattern: a read-only publication.
//
// An author publishes posts; anyone with a reader share code follows them.
// A share code works once, so each subscriber gets their own (the author's
// app hands them out); every reader sees every post, and none can post.
import { SYNCED, check, scratch } from "./_devices.mjs";

await scratch(async ({ open, syncPoint }) => {
  const point = syncPoint("blog");
  const author = await open("author", "blog");
  const onAuthor = await author.attach(point);
  await author.bulk([
    { _id: "2026-12-01-hello", title: "Hello", body: "First post." },
    { _id: "2026-12-04-sync", title: "Sync that works", body: "…" },
  ]);
  await onAuthor.synced(SYNCED);

  for (const name of ["reader-1", "reader-2"]) {
    const reader = await open(name, "blog");
    const shareCode = await onAuthor.createShareCode({ role: "reader" });
    const onReader = await reader.attach(point, { shareCode });
    await onReader.synced(SYNCED);
    const titles = (await reader.allDocs({ descending: true })).rows.map((row) => row.value.title);
    check(`${name} sees every post, newest first`, titles, ["Sync that works", "Hello"]);
    check(`${name} is a reader`, onReader.status().role, "reader");
  }
});
