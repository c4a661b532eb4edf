// Minifies src/checkout.js into ../gateway-http/assets/checkout.min.js, the file the gateway
// embeds and serves at /checkout.js, and checks the size budget (the reference SDK's 3.77 KB).
//   node build.mjs          build, print sizes, fail if over budget
//   node build.mjs --check  build in memory and fail if it differs from the committed file
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const MAX_MINIFIED = 3770;
const MAX_GZIPPED = 1500;

const src = fileURLToPath(new URL('./src/checkout.js', import.meta.url));
const out = fileURLToPath(new URL('../gateway-http/assets/checkout.min.js', import.meta.url));

const { code } = await transform(readFileSync(src, 'utf8'), {
  minify: true,
  target: 'es2017',
  legalComments: 'inline',
});

const minified = Buffer.byteLength(code);
const gzipped = gzipSync(code, { level: 9 }).length;
console.log(`checkout.min.js: ${minified} bytes minified, ${gzipped} bytes gzipped (-9)`);

let failed = false;
if (minified > MAX_MINIFIED) { console.error(`over budget: ${minified} > ${MAX_MINIFIED} bytes minified`); failed = true; }
if (gzipped > MAX_GZIPPED) { console.error(`over budget: ${gzipped} > ${MAX_GZIPPED} bytes gzipped`); failed = true; }

if (process.argv.includes('--check')) {
  let committed = '';
  try { committed = readFileSync(out, 'utf8'); } catch { /* missing */ }
  if (committed !== code) { console.error(`${out} is stale: run \`npm run build\` in sdk-js/`); failed = true; }
} else {
  writeFileSync(out, code);
  console.log(`wrote ${out}`);
}
process.exit(failed ? 1 : 0);
