// Runs inside a node's network namespace: answers every HTTP request with the node's name.
// Usage: node node-server.mjs <node-name> <port>
import http from 'node:http';
const [name, port] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
  res.end(name);
});
server.listen(Number(port), '::', () => process.stdout.write('listening\n'));
// Exits with its parent (the test), whatever happens to the test process.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
