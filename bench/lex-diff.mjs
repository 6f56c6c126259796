// Compares symship's lexer with acorn's tokenizer on real JavaScript: for each file, the byte
// ranges of string literals, template text, regular expressions and comments must be equal.
// Input (stdin): lines "path\tstart-end,..." from `cargo run --example lex_spans`.
// Usage: node bench/lex-diff.mjs ACORN_DIR < spans.tsv
import { createRequire } from "node:module";
import fs from "node:fs";
const require = createRequire(import.meta.url);
const acorn = require(process.argv[2] + "/dist/acorn.js");

function acornSpans(src) {
  // UTF-16 offset -> byte offset
  const buf = Buffer.from(src, "utf8");
  const map = new Uint32Array(src.length + 1);
  let byte = 0;
  for (let i = 0; i < src.length; i++) {
    map[i] = byte;
    const c = src.charCodeAt(i);
    if (c < 0x80) byte += 1;
    else if (c < 0x800) byte += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { map[i + 1] = byte + 2; byte += 4; i++; }
    else byte += 3;
  }
  map[src.length] = byte;
  for (const sourceType of ["module", "script"]) {
    const spans = [];
    const push = (s, e) => {
      s = map[s]; e = map[e];
      if (s >= e) return;
      const last = spans[spans.length - 1];
      if (last && last[1] === s) last[1] = e; else spans.push([s, e]);
    };
    const comments = [];
    try {
      const toks = [];
      for (const t of acorn.tokenizer(src, {
        ecmaVersion: "latest", sourceType, allowHashBang: true, allowReturnOutsideFunction: true,
        allowAwaitOutsideFunction: true,
        onComment: (block, text, s, e) => comments.push([s, e]),
      })) toks.push(t);
      const all = [];
      for (const t of toks) {
        const l = t.type.label;
        if (l === "string" || l === "regexp" || l === "template" || l === "invalidTemplate" || l === "`") all.push([t.start, t.end]);
      }
      for (const c of comments) all.push(c);
      all.sort((a, b) => a[0] - b[0]);
      for (const [s, e] of all) push(s, e);
      return spans;
    } catch (e) {
      if (sourceType === "script") return null;
    }
  }
}

const input = fs.readFileSync(0, "utf8").split("\n").filter(Boolean);
let files = 0, same = 0, skipped = 0;
for (const line of input) {
  const [path, list] = line.split("\t");
  const ours = (list || "").split(",").filter(Boolean).map((p) => p.split("-").map(Number));
  const src = fs.readFileSync(path, "utf8");
  const theirs = acornSpans(src);
  files++;
  if (theirs === null) { skipped++; console.log(`acorn cannot tokenize ${path}`); continue; }
  const a = JSON.stringify(ours), b = JSON.stringify(theirs);
  if (a === b) { same++; continue; }
  let i = 0;
  while (i < ours.length && i < theirs.length && ours[i][0] === theirs[i][0] && ours[i][1] === theirs[i][1]) i++;
  const at = Math.min((ours[i] || [Infinity])[0], (theirs[i] || [Infinity])[0]);
  const bytes = Buffer.from(src, "utf8");
  console.log(`DIFF ${path} at byte ${at}: symship ${JSON.stringify(ours[i])} acorn ${JSON.stringify(theirs[i])}: ${JSON.stringify(bytes.subarray(Math.max(0, at - 60), at + 60).toString())}`);
}
console.log(`${files} files: ${same} equal, ${files - same - skipped} differ, ${skipped} not tokenizable by acorn`);
process.exit(same + skipped === files ? 0 : 1);
