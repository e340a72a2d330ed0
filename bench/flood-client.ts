/**
 * The flood bench's attacker (flood.ts starts it in the denied pod's namespace):
 * `node flood-client.js ADDRESS PORT SECONDS MAX_OPEN HOLD_MS`. For SECONDS it opens TCP
 * connections to ADDRESS:PORT as fast as it can, at most MAX_OPEN at once, and gives each up after
 * HOLD_MS (below TCP's first SYN retransmission at 1 s, so an attempt is one SYN). Policy drops
 * them all, so none connects. At the end it prints one JSON line: attempts made, connections
 * that did connect (0 when the rules hold), errors, and its own CPU time in ms.
 */
import { connect } from 'node:net';

const [address, portText, secondsText, maxOpenText, holdText] = process.argv.slice(2);
const port = Number(portText);
const endAt = Date.now() + Number(secondsText) * 1000;
const maxOpen = Number(maxOpenText);
const holdMs = Number(holdText);

let open = 0;
let attempts = 0;
let connected = 0;
let errors = 0;
let finished = false;

function finish(): void {
  if (finished) return;
  finished = true;
  const cpu = process.cpuUsage();
  const cpuMs = Math.round((cpu.user + cpu.system) / 1000);
  process.stdout.write(`${JSON.stringify({ attempts, connected, errors, cpuMs })}\n`);
  process.exit(0);
}

function attempt(): void {
  open++;
  attempts++;
  const socket = connect({ host: address, port });
  let done = false;
  const close = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    open--;
    fill();
  };
  const timer = setTimeout(close, holdMs);
  socket.on('connect', () => {
    connected++;
    close();
  });
  socket.on('error', () => {
    errors++;
    close();
  });
}

/** Opens connections up to the limit; yields to the event loop between batches so timers run. */
function fill(): void {
  if (Date.now() >= endAt) {
    if (open === 0) finish();
    return;
  }
  let batch = 0;
  while (open < maxOpen && batch++ < 256) attempt();
}

setTimeout(finish, Number(secondsText) * 1000 + holdMs + 2000).unref();
const pump = setInterval(fill, 1);
setTimeout(() => clearInterval(pump), Number(secondsText) * 1000);
fill();
