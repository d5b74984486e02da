// Writes train.csv (150 rows) and test.csv (50 rows): made-up houses for the CSV example.
// Two tasks share the inputs: price (regression, in hundreds of thousands) and type (flat, house or studio);
// about one row in ten has no price and one in ten no type (empty cells), so the tasks are
// partially labelled. Deterministic: `node generate.mjs` rewrites the same files.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// mulberry32: a small seeded PRNG, so the files are reproducible.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(8);
const districts = { north: 1.25, south: 0.9, east: 1.0, west: 1.1 };
const names = Object.keys(districts);
const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

function row() {
  const type = random() < 0.2 ? 'studio' : random() < 0.55 ? 'flat' : 'house';
  const rooms = type === 'studio' ? 1 : type === 'flat' ? 2 + Math.floor(random() * 3) : 3 + Math.floor(random() * 4);
  const area = Math.round(rooms * (18 + random() * 14) + (type === 'house' ? 25 : 0));
  const district = names[Math.floor(random() * names.length)];
  const garden = type === 'house' ? random() < 0.85 : random() < 0.1;
  const age = Math.floor(random() * 80);
  const price = (40 + 2.6 * area + (garden ? 30 : 0) - 0.6 * age) * districts[district] + 12 * gaussian();
  return [area, rooms, district, garden ? 'yes' : 'no', age, random() < 0.1 ? '' : (price / 100).toFixed(3), random() < 0.1 ? '' : type];
}

const header = 'area,rooms,district,garden,age,price,type';
const here = dirname(fileURLToPath(import.meta.url));
for (const [file, count] of [['train.csv', 150], ['test.csv', 50]]) {
  const lines = [header, ...Array.from({ length: count }, () => row().join(','))];
  writeFileSync(join(here, file), `${lines.join('\n')}\n`);
}
