// Runs inside the client's network namespace: asks every target which node answers, `rounds` times,
// one round every `intervalMs`, each ask bounded by `timeoutMs`, and prints one JSON line per ask:
// {"t":<sent, ms>,"seq":<round>,"target":"<ip>,<port>,<proto>","node":"frontend-1"} or {...,"error":".."}.
// TCP targets get an HTTP GET on a new connection; UDP targets one datagram.
// Usage: node client.mjs <intervalMs> <rounds> <timeoutMs> <ip>,<port>,<tcp|udp>...
import dgram from 'node:dgram';
import http from 'node:http';
import { isIPv6 } from 'node:net';

const [intervalMs, rounds, timeoutMs, ...targets] = process.argv.slice(2);
const timeout = Number(timeoutMs);
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function askTcp(target, ip, port, seq) {
  const t = Date.now();
  const req = http.get({ host: ip, port, path: '/', agent: false, timeout }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (body += c));
    res.on('end', () => emit({ t, seq, target, node: body }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => emit({ t, seq, target, error: e.message }));
}

function askUdp(target, ip, port, seq) {
  const t = Date.now();
  const socket = dgram.createSocket(isIPv6(ip) ? 'udp6' : 'udp4');
  const timer = setTimeout(() => {
    socket.close();
    emit({ t, seq, target, error: 'timeout' });
  }, timeout);
  socket.on('message', (msg) => {
    clearTimeout(timer);
    socket.close();
    emit({ t, seq, target, node: msg.toString() });
  });
  socket.on('error', (e) => {
    clearTimeout(timer);
    socket.close();
    emit({ t, seq, target, error: e.message });
  });
  socket.send('which node?', port, ip);
}

let seq = 0;
const round = () => {
  for (const target of targets) {
    const [ip, port, proto] = target.split(',');
    (proto === 'udp' ? askUdp : askTcp)(target, ip, Number(port), seq);
  }
  seq += 1;
  if (seq >= Number(rounds)) {
    clearInterval(timer);
    setTimeout(() => process.exit(0), timeout + 50);
  }
};
const timer = setInterval(round, Number(intervalMs));
round();
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
