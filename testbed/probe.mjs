// Runs inside the client's network namespace: GETs each target every interval, bounded by count,
// and prints one JSON line per answer: {"t":ms,"ip":"...","node":"node-1"} or {"t":..,"error":".."}.
// Usage: node probe.mjs <intervalMs> <count> <timeoutMs> <port> <ip>...
import http from 'node:http';
const [intervalMs, count, timeoutMs, port, ...ips] = process.argv.slice(2);
let round = 0;
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
function probe(ip, seq) {
  const sent = Date.now();
  const req = http.get(
    { host: ip, port: Number(port), path: '/', agent: false, timeout: Number(timeoutMs) },
    (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => emit({ t: sent, rtt: Date.now() - sent, seq, ip, node: body }));
    },
  );
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => emit({ t: sent, seq, ip, error: e.message }));
}
const timer = setInterval(() => {
  if (round >= Number(count)) {
    clearInterval(timer);
    setTimeout(() => process.exit(0), Number(timeoutMs) + 50);
    return;
  }
  for (const ip of ips) probe(ip, round);
  round += 1;
}, Number(intervalMs));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
