// Pattern: a shared team ledger with roles.
//
// The lead (admin) invites a writer and a reader. The writer's tasks reach
// everyone; the reader sees them but its own writes stay on its device (its
// sync status says FORBIDDEN), and no one else ever sees them.
import { SYNCED, check, join, scratch } from "./_devices.mjs";

await scratch(async ({ open, syncPoint }) => {
  const point = syncPoint("team");
  const lead = await open("lead", "tasks");
  const dev = await open("dev", "tasks");
  const client = await open("client", "tasks");
  const onLead = await lead.attach(point);
  const onDev = await join(dev, point, onLead, "writer");
  const onClient = await join(client, point, onLead, "reader");

  await dev.put({ _id: "t1", title: "Ship the release", by: "dev" });
  await onDev.synced(SYNCED);
  await Promise.all([onLead.synced(SYNCED), onClient.synced(SYNCED)]);
  check("the lead sees the writer's task", (await lead.get("t1")).title, "Ship the release");
  check("the reader sees it too", (await client.get("t1")).title, "Ship the release");

  await client.put({ _id: "t2", title: "Do it for free", by: "client" });
  const refused = await onClient.synced(SYNCED).then(() => "synced", (err) => err.code);
  check("the reader's write is refused at the sync point", refused, "FORBIDDEN");
  check("it stays on the reader's device", (await client.get("t2")).by, "client");
  await onLead.synced(SYNCED);
  check("the lead never sees it", (await lead.allDocs()).rows.map((row) => row.key), ["t1"]);
  check("the roles", (await onLead.members()).map((m) => m.role).sort(), ["admin", "reader", "writer"]);
});
