// Pattern: many devices writing into one inbox.
//
// Field devices (writers) drop reports into one ledger, each under an id
// that starts with its own name, so no two ever write the same document.
// The office (admin) reads what is new with the change feed, from the
// clock it kept last time, and files each report by writing its status.
import { SYNCED, check, join, scratch } from "./_devices.mjs";

await scratch(async ({ open, syncPoint }) => {
  const point = syncPoint("inbox");
  const office = await open("office", "reports");
  const onOffice = await office.attach(point);
  const devices = [];
  for (const name of ["van-1", "van-2", "van-3"]) {
    const db = await open(name, "reports");
    devices.push({ name, db, attachment: await join(db, point, onOffice) });
  }

  let clock = []; // where the office read up to (an app stores it between runs)
  for (let round = 1; round <= 2; round++) {
    await Promise.all(devices.map(async ({ name, db, attachment }) => {
      await db.put({ _id: `${name}/${round}`, kind: "report", text: `${name}, round ${round}`, status: "new" });
      await attachment.synced(SYNCED);
    }));
    await onOffice.synced(SYNCED);
    const page = await office.changes(clock);
    const fresh = page.rows.filter((row) => row.value.kind === "report" && row.value.status === "new");
    for (const row of fresh) await office.put({ ...row.value, status: "filed" });
    clock = page.clock;
    check(`round ${round}: the office filed one report per device`, fresh.map((row) => row.key).sort(), devices.map(({ name }) => `${name}/${round}`));
  }
  await onOffice.synced(SYNCED);
  await devices[0].attachment.synced(SYNCED);
  check("a device sees its report filed", (await devices[0].db.get("van-1/2")).status, "filed");
});
