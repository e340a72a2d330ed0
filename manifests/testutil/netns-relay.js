'use strict';
/**
 * A byte relay between a network namespace and the test process outside it. A network
 * namespace has its own loopback, but unix sockets live in the file system, which both sides
 * share; so each relay joins a TCP address on one side to a unix socket on the other.
 *
 *   node netns-relay.js LISTEN=TARGET ...
 *     LISTEN, TARGET: tcp:HOST:PORT or unix:PATH
 *
 * Run inside the namespace (`ip netns exec NS node netns-relay.js ...`). Prints "ready" once
 * every listener is up; exits when its stdin closes, so it never outlives the test.
 */
const net = require('node:net');

function address(spec) {
  const unix = /^unix:(.+)$/.exec(spec);
  if (unix) return { path: unix[1] };
  const tcp = /^tcp:(.+):(\d+)$/.exec(spec);
  if (tcp) return { host: tcp[1], port: Number(tcp[2]) };
  throw new Error(`not tcp:HOST:PORT or unix:PATH: ${spec}`);
}

function relay(listenSpec, targetSpec) {
  const target = address(targetSpec);
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address(listenSpec), () => resolve(server));
  });
}

const pairs = process.argv.slice(2).map((arg) => {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new Error(`expected LISTEN=TARGET, got ${arg}`);
  return [arg.slice(0, eq), arg.slice(eq + 1)];
});

Promise.all(pairs.map(([listen, target]) => relay(listen, target))).then(
  () => process.stdout.write('ready\n'),
  (e) => {
    process.stderr.write(`netns-relay: ${e.message}\n`);
    process.exit(1);
  },
);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
