"use strict";
/*
 * A Node.js socket.io 4 server on @socket.io/redis-adapter 8, answering the same events as
 * the Python examples (room_events.py), so Node and Python servers share one cluster: rooms,
 * broadcasts and everything the adapter carries cross between them through Redis.
 *
 *   npm install socket.io @socket.io/redis-adapter redis
 *   REDIS_URL=redis://localhost:6379/0 node examples/node_server.js --port 3000
 *
 * (In this repository the packages are in tests/interop/node/node_modules:
 *  NODE_PATH=tests/interop/node/node_modules node examples/node_server.js --port 3000)
 */

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}

async function main() {
  const port = Number(option("port", "3000"));
  const host = option("host", "127.0.0.1");
  const name = option("name", "node");
  const pub = createClient({ url: process.env.REDIS_URL || "redis://localhost:6379/0" });
  const sub = pub.duplicate();
  pub.on("error", (err) => console.error("redis (pub):", err.message));
  sub.on("error", (err) => console.error("redis (sub):", err.message));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub) });
  io.on("connection", (socket) => {
    socket.on("whoami", (ack) => ack({ server: name, pid: process.pid }));
    socket.on("join", (room, ack) => {
      socket.join(String(room));
      ack(true);
    });
    socket.on("say", (data, ack) => {
      io.to(String(data.room)).emit("said", {
        text: String(data.text ?? ""),
        server: name,
        pid: process.pid,
      });
      ack(true);
    });
  });

  const stop = async () => {
    io.close(); // closes the HTTP server and the adapter
    await Promise.all([pub.quit(), sub.quit()]);
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  httpServer.listen(port, host, () => console.log(`node server ${name} on http://${host}:${port}`));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
