// Pattern: one ledger per user, on each of that user's devices.
//
// Ana's notes live in her own ledger and her own sync point; her laptop
// invites her phone, and both write. Ben has a ledger of his
// own: nothing of Ana's reaches it, since nothing connects the two.
import { SYNCED, check, join, scratch } from "./_devices.mjs";

await scratch(async ({ open, syncPoint }) => {
  const point = syncPoint("ana-notes");
  const laptop = await open("ana-laptop", "notes");
  const phone = await open("ana-phone", "notes");
  const onLaptop = await laptop.attach(point); // the first device is the sync point's admin
  const onPhone = await join(phone, point, onLaptop);

  await laptop.put({ _id: "groceries", text: "milk, eggs" });
  await phone.put({ _id: "ideas", text: "a bike trip" });
  await onLaptop.synced(SYNCED);
  await onPhone.synced(SYNCED);
  await onLaptop.synced(SYNCED);
  const ids = async (db) => (await db.allDocs()).rows.map((row) => row.key);
  check("the laptop has both notes", await ids(laptop), ["groceries", "ideas"]);
  check("the phone has both notes", await ids(phone), ["groceries", "ideas"]);

  const ben = await open("ben-laptop", "notes");
  await ben.attach(syncPoint("ben-notes"));
  check("Ben's ledger holds none of Ana's notes", await ids(ben), []);
});
