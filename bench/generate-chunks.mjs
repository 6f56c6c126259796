// Writes a synthetic build of N small chunks with their sourcemaps, shaped like the Vite app's pages (a
// one-line minified chunk of about 1.5 KB, `//# sourceMappingURL=`, a map with sourcesContent), for the
// API-call and throttle measurements of bench/process.sh at sizes no bundler here builds in reasonable time.
// Usage: node bench/generate-chunks.mjs <N> <dir>   (deterministic for a given N; 1,000 chunks per directory)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const n = Number(process.argv[2]);
const out = process.argv[3];
if (!Number.isInteger(n) || n < 1 || !out) throw new Error('usage: generate-chunks.mjs <N> <dir>');

const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const vlq = (v) => {
  let x = v < 0 ? (-v << 1) | 1 : v << 1;
  let s = '';
  do {
    let d = x & 31;
    x >>>= 5;
    if (x) d |= 32;
    s += b64[d];
  } while (x);
  return s;
};

for (let i = 0; i < n; i++) {
  const dir = join(out, `part${Math.floor(i / 1000)}`);
  if (i % 1000 === 0) mkdirSync(dir, { recursive: true });
  const name = `chunk-${i.toString(36).padStart(5, '0')}`;
  // source: 24 small functions; minified: each on the one line, mapped segment by segment
  const fns = [];
  const src = [];
  for (let k = 0; k < 24; k++) {
    const seed = (i * 2654435761 + k * 40503) % 4294967296;
    src.push(`export function page${i}_${k}(rows, limit = ${k + 3}) {\n  return rows.filter((r) => r.value % ${(seed % 97) + 2} === ${k % 5}).slice(0, limit);\n}\n`);
    fns.push(`function p${k}(r,l=${k + 3}){return r.filter(e=>e.value%${(seed % 97) + 2}===${k % 5}).slice(0,l)}`);
  }
  const code = `${fns.join(';')};export{${fns.map((_, k) => `p${k} as page${i}_${k}`).join(',')}};`;
  const segs = [];
  let col = 0;
  let prevCol = 0;
  let prevLine = 0;
  for (let k = 0; k < 24; k++) {
    const line = k * 3;
    segs.push(vlq(col - prevCol) + vlq(0) + vlq(line - prevLine) + vlq(0));
    prevCol = col;
    prevLine = line;
    col += fns[k].length + 1;
  }
  const map = {
    version: 3,
    file: `${name}.js`,
    sources: [`../../src/pages/Page${i}.js`],
    sourcesContent: [src.join('')],
    names: [],
    mappings: segs.join(','),
  };
  writeFileSync(join(dir, `${name}.js`), `${code}\n//# sourceMappingURL=${name}.js.map\n`);
  writeFileSync(join(dir, `${name}.js.map`), JSON.stringify(map));
}
