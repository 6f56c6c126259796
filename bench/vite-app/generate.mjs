// Writes index.html, src/main.js and src/pages/Page<i>.js for the benchmark app.
// Usage: node generate.mjs <pages>   (in the app directory; deterministic for a given count)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

const pages = Number(process.argv[2] ?? 2000);
if (!Number.isInteger(pages) || pages < 1) throw new Error(`bad page count ${process.argv[2]}`);

const lodash = ['chunk', 'groupBy', 'sortBy', 'uniqBy', 'debounce', 'merge', 'pick', 'omit', 'sumBy', 'zip', 'flatten', 'kebabCase'];
const three = ['Vector3', 'Matrix4', 'Quaternion', 'Color', 'Box3', 'Euler'];

rmSync('src', { recursive: true, force: true });
mkdirSync('src/pages', { recursive: true });
writeFileSync(
  'index.html',
  '<!doctype html>\n<html><head><meta charset="UTF-8"><title>bench</title></head>\n<body><div id="root"></div><script type="module" src="/src/main.js"></script></body></html>\n',
);

for (let i = 0; i < pages; i++) {
  const a = lodash[i % lodash.length];
  const b = lodash[(i * 7 + 3) % lodash.length];
  const useThree = i % 5 === 0;
  const t = three[i % three.length];
  const imports = [...new Set([a, b])].join(', ');
  writeFileSync(
    `src/pages/Page${i}.js`,
    `import { createElement as h, useMemo, useState } from 'react';
import { ${imports} } from 'lodash-es';
${useThree ? `import { ${t} } from 'three';\n` : ''}
const SEED = ${i * 2654435761 % 4294967296};

function rows(count) {
  const out = [];
  let x = SEED;
  for (let r = 0; r < count; r++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push({ id: r, group: 'g' + (x % 7), value: x % 1000, label: 'page ${i} row ' + r });
  }
  return out;
}

function describe(list) {
  if (!Array.isArray(list)) {
    throw new TypeError('page ${i}: expected a list');
  }
  return list.map((row) => row.label + ': ' + row.value).join(', ');
}

export default function Page${i}({ title }) {
  const [count, setCount] = useState(${(i % 13) + 3});
  const data = useMemo(() => rows(count), [count]);
  const shaped = ${a === 'debounce' ? 'data' : `${a}(data${['chunk'].includes(a) ? ', 3' : ['groupBy', 'sortBy', 'uniqBy', 'sumBy'].includes(a) ? ", 'group'" : ['pick', 'omit'].includes(a) ? "[0], ['id']" : ''})`};
  const extra = typeof ${b} === 'function' ? '${b}' : 'none';
${useThree ? `  const geometry = new ${t}();\n  const extraThree = String(geometry.constructor.name);\n` : "  const extraThree = '';\n"}  return h(
    'section',
    { className: 'page page-${i}' },
    h('h1', null, title || 'Page ${i}'),
    h('p', null, describe(data.slice(0, 3))),
    h('pre', null, JSON.stringify(shaped).slice(0, 200)),
    h('button', { onClick: () => setCount(count + 1) }, 'more (' + extra + extraThree + ')'),
  );
}
`,
  );
}

const lines = [
  "import { createElement as h, lazy, Suspense, useState } from 'react';",
  "import { createRoot } from 'react-dom/client';",
  '',
  'const pages = [',
];
for (let i = 0; i < pages; i++) lines.push(`  lazy(() => import('./pages/Page${i}.js')),`);
lines.push(
  '];',
  '',
  'function App() {',
  '  const [index, setIndex] = useState(0);',
  '  const Page = pages[index % pages.length];',
  '  return h(',
  "    'main',",
  '    null,',
  "    h('button', { onClick: () => setIndex(index + 1) }, 'next page'),",
  "    h(Suspense, { fallback: h('p', null, 'loading') }, h(Page, { title: 'Page ' + index })),",
  '  );',
  '}',
  '',
  "createRoot(document.getElementById('root')).render(h(App));",
  '',
);
writeFileSync('src/main.js', lines.join('\n'));
console.log(`generated ${pages} pages`);
