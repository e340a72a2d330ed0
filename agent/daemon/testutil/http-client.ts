/** GET over TCP or a unix socket, for tests of the health and debug servers. */
import { request } from 'node:http';

export interface Reply {
  status: number;
  body: string;
  json<T = unknown>(): T;
}

export function get(
  target: { socketPath: string } | { port: number; host?: string },
  path: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      'socketPath' in target
        ? { socketPath: target.socketPath, path, method: 'GET' }
        : { host: target.host ?? '127.0.0.1', port: target.port, path, method: 'GET' },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body, json: <T>() => JSON.parse(body) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}
