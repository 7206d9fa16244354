// Pattern: moving a document between ledgers.
//
// A task moves from a personal ledger to the team's. Write it to the
// destination first and wait until the destination's sync point holds it;
// only then delete it from the source. A crash in between leaves it in
// both places (the move runs again, writing the same _id), never in neither.
import { SYNCED, check, scratch } from "./_devices.mjs";

/** Moves document `id` from `from` to `to` (each with its attachment). */
async function move(id, from, to) {
  const { _id, ...body } = await from.db.get(id);
  await to.db.put({ _id, ...body, movedFrom: from.db.name });
  await to.attachment.synced(SYNCED);
  await from.db.del(id);
  await from.attachment.synced(SYNCED);
}

await scratch(async ({ open, syncPoint }) => {
  const mine = await open("me", "personal");
  const team = await open("me", "team");
  const from = { db: mine, attachment: await mine.attach(syncPoint("personal")) };
  const to = { db: team, attachment: await team.attach(syncPoint("team")) };
  await mine.put({ _id: "draft-plan", title: "Q1 plan", status: "draft" });

  await move("draft-plan", from, to);
  check("the team ledger has it", (await team.get("draft-plan")).title, "Q1 plan");
  check("the personal ledger no longer does", (await mine.allDocs()).rows.length, 0);
  await move("draft-plan", to, from);
  check("moving it back works the same way", (await mine.get("draft-plan")).movedFrom, "team");
});
