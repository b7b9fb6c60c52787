// Runs inside a balancer node's network namespace and stands in for the Services' backends (what
// kube-proxy would forward to): on every port given it answers with the node's name, HTTP for TCP
// ports, one datagram for UDP ports. So the client sees which node took its packets.
// Usage: node node-server.mjs <node-name> <port>/<tcp|udp>...
import dgram from 'node:dgram';
import http from 'node:http';

const [name, ...ports] = process.argv.slice(2);
const listening = [];
for (const spec of ports) {
  const [port, proto] = spec.split('/');
  if (proto === 'udp') {
    // Bound to the wildcard, so the reply leaves from the node's own address, not the public one;
    // the client matches replies by content (a real DNS client would want kube-proxy's NAT here).
    for (const type of ['udp4', 'udp6']) {
      const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
      socket.on('message', (_msg, from) => socket.send(name, from.port, from.address));
      listening.push(new Promise((resolve) => socket.bind(Number(port), resolve)));
    }
  } else {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
      res.end(name);
    });
    listening.push(new Promise((resolve) => server.listen(Number(port), '::', resolve)));
  }
}
await Promise.all(listening);
process.stdout.write('listening\n');
// Exits with its parent, whatever happens to the parent.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
