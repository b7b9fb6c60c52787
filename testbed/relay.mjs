// Runs inside a network namespace (`ip netns exec <ns> node relay.mjs <port> <socket>`): listens on
// 127.0.0.1:<port> of that namespace and pipes every connection to the Unix socket <socket>, whose
// other end (in the root namespace) connects to the API server on 127.0.0.1. So a process that has
// its network in a node namespace reaches the API over loopback only.
// Prints "listening" once bound; exits when its parent goes away (stdin closes).
import net from 'node:net';

const [port, socketPath] = process.argv.slice(2);
const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.pipe(upstream).pipe(client);
});
server.on('error', (e) => {
  process.stderr.write(`relay: ${e.message}\n`);
  process.exit(1);
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
