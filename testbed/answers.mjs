// Runs inside the client's network namespace: asks the link, over and over, who answers for each
// address, and prints one JSON line per answer: {"t":ms,"ip":"...","mac":"aa:bb:.."}.
// IPv4: iputils `arping -b` (broadcast requests only, so every holder answers every request, not just
// the MAC learnt from the first reply), PER_ADDRESS processes one second apart each, staggered so that
// the address is asked every 1000/PER_ADDRESS ms. IPv6: `ndisc6 -m` (every answer to one
// solicitation), back to back. Bounded: it stops after <seconds>, or when its parent goes away.
// Usage: node answers.mjs <iface> <seconds> <ip>...
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const PER_ADDRESS = 4;
const [iface, seconds, ...ips] = process.argv.slice(2);
const until = Date.now() + Number(seconds) * 1000;
const children = new Set();
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const MAC = /([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})/;

function run(argv, ip) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  children.add(child);
  createInterface(child.stdout).on('line', (line) => {
    // arping: "Unicast reply from <ip> [<MAC>]  0.5ms"; ndisc6: "Target link-layer address: <MAC>".
    const m = /reply from|link-layer address/.test(line) ? MAC.exec(line) : null;
    if (m) emit({ t: Date.now(), ip, mac: m[1].toLowerCase() });
  });
  return new Promise((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function arpingLoop(ip, offsetMs) {
  await sleep(offsetMs);
  while (Date.now() < until) {
    const count = Math.max(1, Math.ceil((until - Date.now()) / 1000));
    await run(['arping', '-b', '-c', String(count), '-I', iface, ip], ip);
    await sleep(100);
  }
}

async function ndiscLoop(ip) {
  while (Date.now() < until) {
    await run(['ndisc6', '-m', '-n', '-r', '1', '-w', '250', ip, iface], ip);
    await sleep(20);
  }
}

const loops = ips.flatMap((ip) =>
  ip.includes(':')
    ? [ndiscLoop(ip)]
    : Array.from({ length: PER_ADDRESS }, (_, i) => arpingLoop(ip, (i * 1000) / PER_ADDRESS)),
);
const stop = () => {
  for (const c of children) c.kill('SIGKILL');
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
emit({ t: Date.now(), started: true });
Promise.all(loops).then(stop);
