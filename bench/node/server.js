"use strict";
/*
 * One Node socket.io 4.8 server of the benchmark cluster, on @socket.io/redis-adapter 8.3.
 *
 *   node bench/node/server.js --port P --redis URL --role NAME [--key K] [--ping-interval S]
 *
 * --role only names the server in its log lines (bench/run.py: A or B); --ping-interval
 * (seconds, default socket.io's 25) is raised by bench/scale.py, as in bench/py_server.py.
 *
 * Modules come from tests/interop/node/node_modules (bench/run.py sets NODE_PATH).
 * The events and the emit loop mirror bench/py_server.py:
 *   join room|[rooms]  -> socket.join(room(s)), ack true               (namespace "/")
 *   bench:warm {k}     -> io.emit("w", {k}), ack true     (control client, namespace "/bench")
 *   bench:run {...}    -> io.emit / io.to(room).emit("m", {seq, t, pad}) back to back or paced,
 *                         ack {first_send, last_send, count}
 */

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function parseArgs(argv) {
  const out = { key: "bench" };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "");
    out[name] = argv[i + 1];
  }
  for (const required of ["port", "redis", "role"]) {
    if (!out[required]) throw new Error(`--${required} is required`);
  }
  return out;
}

function padFor(payloadSize) {
  const overhead = '{"seq":12345,"t":12345678.123,"pad":""}'.length;
  return "x".repeat(Math.max(0, payloadSize - overhead));
}

// CLOCK_MONOTONIC ms, the clock Python reads as time.monotonic(): see bench/clock.py.
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const pub = createClient({ url: args.redis });
  const sub = pub.duplicate();
  for (const [name, client] of [["pub", pub], ["sub", sub]]) {
    client.on("error", (err) => console.error(`[node ${args.role}] redis ${name}:`, err.message));
  }
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(pub, sub, { key: args.key }),
    cors: { origin: "*" },
    ...(args["ping-interval"] ? { pingInterval: Number(args["ping-interval"]) * 1000 } : {}),
  });

  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });
  });
  // The control client lives in its own namespace, so that broadcasts on "/" never reach it.
  io.of("/bench").on("connection", (socket) => {
    socket.on("bench:warm", (params, ack) => {
      io.emit("w", { k: (params && params.k) || 0 });
      if (typeof ack === "function") ack(true);
    });
    socket.on("bench:run", async (params, ack) => {
      const count = Number(params.count);
      const rate = Number(params.rate || 0);
      const rooms = params.rooms || [];
      const pad = padFor(Number(params.payload_size || 100));
      const nRooms = rooms.length;
      const firstSend = nowMs();
      const start = performance.now();
      for (let i = 0; i < count; i++) {
        if (rate) {
          const delay = start + (i * 1000) / rate - performance.now();
          if (delay > 0) await sleep(delay);
        }
        const target = nRooms ? io.to(rooms[i % nRooms]) : io;
        target.emit("m", { seq: i, t: nowMs(), pad });
      }
      const lastSend = nowMs();
      if (typeof ack === "function") ack({ first_send: firstSend, last_send: lastSend, count });
    });
  });

  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(Number(args.port), "127.0.0.1", resolve);
  });
  console.error(`[node ${args.role}] listening on 127.0.0.1:${args.port}`);

  const stop = async () => {
    io.close();
    await Promise.allSettled([pub.quit(), sub.quit()]);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
