// Expand every VEVENT of the given .ics files with Mozilla's ical.js (Thunderbird's parser).
// Prints JSON: {file: [[uid, categories, local date, local time, tzid, utc ISO, all-day], ...]}.
// Time zones come only from each calendar's own VTIMEZONE components.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

function occurrences(text) {
  const root = new ICAL.Component(ICAL.parse(text));
  ICAL.TimezoneService.reset();
  for (const zone of root.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(new ICAL.Timezone(zone));
  }
  const out = [];
  for (const component of root.getAllSubcomponents("vevent")) {
    const event = new ICAL.Event(component);
    const cats = component.getAllProperties("categories").flatMap((p) => p.getValues()).join(",");
    const tzid = event.startDate.zone ? event.startDate.zone.tzid : "";
    const push = (time) => {
      const pad = (n, w = 2) => String(n).padStart(w, "0");
      const date = `${pad(time.year, 4)}-${pad(time.month)}-${pad(time.day)}`;
      const clock = `${pad(time.hour)}:${pad(time.minute)}`;
      const utc = new Date(time.toUnixTime() * 1000).toISOString();
      out.push([event.uid, cats, date, clock, time.zone ? time.zone.tzid : tzid, utc, time.isDate]);
    };
    if (event.isRecurring()) {
      const it = event.iterator();
      for (let next = it.next(); next; next = it.next()) push(next);
    } else {
      push(event.startDate);
    }
  }
  return out;
}

const result = {};
for (const file of process.argv.slice(2)) result[file] = occurrences(readFileSync(file, "utf8"));
process.stdout.write(JSON.stringify(result));
