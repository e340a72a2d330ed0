/**
 * The endpoint side of the control protocol: a Unix socket server that decodes request lines
 * and hands each to a handler; answers are written as they complete.
 */
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { rmSync } from 'node:fs';
import type { ControlAnswer, ControlRequest } from './control-protocol';

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

export function serveControl(path: string, handle: ControlHandler): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((conn) => {
    conn.on('error', () => conn.destroy());
    createInterface({ input: conn }).on('line', (line) => {
      let id = -1;
      const answer = (a: ControlAnswer): void => {
        if (!conn.destroyed) conn.write(JSON.stringify(a) + '\n');
      };
      try {
        const msg = JSON.parse(line) as { id: number; request: ControlRequest };
        id = msg.id;
        handle(msg.request).then(
          (result) => answer({ id, ok: true, result }),
          (e: Error) => answer({ id, ok: false, error: e.message ?? String(e) }),
        );
      } catch (e) {
        answer({ id, ok: false, error: `bad request: ${(e as Error).message}` });
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
