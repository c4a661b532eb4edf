// What both browser suites need: where the repository, the gateway binary and Chromium are, a
// free port on 127.0.0.1, and a wait for a server to come up.

import { createServer } from 'node:net';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const gatewayBin = process.env.GATEWAY_BIN || join(root, 'target/debug/gateway');
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

/** A port nothing listens on right now. */
export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** Resolves once `url` answers below 500; throws after 30 s. */
export async function waitFor(url) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}
