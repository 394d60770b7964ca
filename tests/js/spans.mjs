// Start and end of every occurrence of every VEVENT of the given .ics files, with Mozilla's ical.js.
// Prints JSON: {file: [[uid, categories, start UTC ISO, end UTC ISO], ...]}. Time zones come only from
// each calendar's own VTIMEZONE components (tests/test_infusions.py).
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

function spans(text) {
  const root = new ICAL.Component(ICAL.parse(text));
  ICAL.TimezoneService.reset();
  for (const zone of root.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(new ICAL.Timezone(zone));
  }
  const iso = (time) => new Date(time.toUnixTime() * 1000).toISOString();
  const out = [];
  for (const component of root.getAllSubcomponents("vevent")) {
    const event = new ICAL.Event(component);
    const cats = component.getAllProperties("categories").flatMap((p) => p.getValues()).join(",");
    if (event.isRecurring()) {
      const it = event.iterator();
      for (let next = it.next(); next; next = it.next()) {
        const details = event.getOccurrenceDetails(next);
        out.push([event.uid, cats, iso(details.startDate), iso(details.endDate)]);
      }
    } else {
      out.push([event.uid, cats, iso(event.startDate), iso(event.endDate)]);
    }
  }
  return out;
}

const result = {};
for (const file of process.argv.slice(2)) result[file] = spans(readFileSync(file, "utf8"));
process.stdout.write(JSON.stringify(result));
