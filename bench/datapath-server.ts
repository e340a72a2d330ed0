/**
 * The datapath bench's HTTP server (datapath.ts starts it in the server pod's namespace):
 * `node datapath-server.js ADDRESS PORT`. It answers every request with a short body and closes
 * the connection when asked, so each wrk request is a TCP connection of its own. It prints
 * "listening" once bound; SIGTERM ends it.
 */
import { createServer } from 'node:http';

const [address, port] = process.argv.slice(2);
const body = Buffer.from('ok\n');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 1000;
server.listen(Number(port), address, () => process.stdout.write('listening\n'));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
