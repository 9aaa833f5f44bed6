"use strict";
/*
 * Node.js side of the socketio-redis-async interop tests.
 *
 * One long-running process, driven over stdin/stdout with JSON lines:
 *   request:  {"id": <int>, "op": "<name>", ...params}
 *   reply:    {"id": <int>, "ok": true, "result": ...} | {"id": <int>, "ok": false, "error": "..."}
 * The first stdout line is {"ready": true}. Everything else (logs) goes to stderr.
 * The process exits cleanly when stdin closes.
 *
 * Values crossing the pipe: binary <-> {"$bin": "<hex>"}, Date <-> {"$date": <ms epoch>}.
 * See tests/interop/node_peer.py for the Python driver.
 */

const http = require("node:http");
const readline = require("node:readline");
const { Server } = require("socket.io");
const { io: ioClient } = require("socket.io-client");
const { createAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");
const notepack = require("notepack.io");

// Keep stdout for the protocol only: anything a library prints goes to stderr.
const log = (...args) => console.error("[peer]", ...args);
console.log = console.error;
console.info = console.error;
console.debug = console.error;

// ---------------------------------------------------------------------------------------------
// Uncaught errors are recorded so that tests can prove our messages did not break Node servers.

const uncaughtErrors = [];

function recordUncaught(kind, err) {
  const text = `${kind}: ${err && err.stack ? err.stack : String(err)}`;
  uncaughtErrors.push(text);
  log(text);
}

process.on("uncaughtException", (err) => recordUncaught("uncaughtException", err));
process.on("unhandledRejection", (err) => recordUncaught("unhandledRejection", err));

// ---------------------------------------------------------------------------------------------
// Value encoding between JSON and JS.

function isPlainObject(value) {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** JS value -> JSON-safe value with {"$bin"} / {"$date"} markers. */
function toWire(value) {
  if (value === undefined || typeof value === "function" || typeof value === "symbol") {
    return null;
  }
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return value;
  if (Buffer.isBuffer(value)) return { $bin: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  }
  if (value instanceof Date) return { $date: value.getTime() };
  if (Array.isArray(value)) return value.map(toWire);
  if (value instanceof Set) return Array.from(value, toWire);
  if (value instanceof Map) value = Object.fromEntries(value);
  if (typeof value.toJSON === "function" && !isPlainObject(value)) {
    return toWire(value.toJSON());
  }
  const out = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined || typeof item === "function") continue;
    out[key] = toWire(item);
  }
  return out;
}

/** JSON value with markers -> JS value (Buffer, Date). */
function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === "$bin" && typeof value.$bin === "string") {
    return Buffer.from(value.$bin, "hex");
  }
  if (keys.length === 1 && keys[0] === "$date" && typeof value.$date === "number") {
    return new Date(value.$date);
  }
  const out = {};
  for (const key of keys) out[key] = fromWire(value[key]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

function asList(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function required(params, name) {
  if (params[name] === undefined) throw new Error(`missing parameter "${name}"`);
  return params[name];
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Args for a reply callback: an array is spread, anything else is a single argument. */
function replyArgs(reply) {
  return Array.isArray(reply) ? fromWire(reply) : [fromWire(reply)];
}

/** node-redis emits "error" on every failed reconnect; log each distinct message once. */
function watchRedisErrors(client, name) {
  let last = null;
  client.on("error", (err) => {
    const message = (err && (err.message || err.code)) || String(err);
    if (message !== last) log(`redis client ${name}: ${message}`);
    last = message;
  });
}

/** Connects a client, giving up after 5 s (node-redis itself would retry forever). */
async function connectRedis(client, name) {
  watchRedisErrors(client, name);
  try {
    await withTimeout(client.connect(), 5000, `redis client ${name}: could not connect`);
  } catch (err) {
    await client.disconnect().catch(() => {});
    throw err;
  }
  return client;
}

function newRedisClient(url, name) {
  return connectRedis(createClient({ url }), name);
}

async function quitQuietly(client) {
  try {
    if (client.isOpen) await client.quit();
  } catch (err) {
    try {
      await client.disconnect();
    } catch (_) {
      // already gone
    }
  }
}

// ---------------------------------------------------------------------------------------------
// State.

let nextServerId = 1;
let nextClientId = 1;
const servers = new Map(); // serverId -> {io, httpServer, pub, sub, nsps: Set, events: []}
const clients = new Map(); // clientId -> {socket, events: []}
const emitters = new Map(); // `${url}\n${key}` -> {client, emitter}

function getServer(params) {
  const id = required(params, "serverId");
  const server = servers.get(id);
  if (!server) throw new Error(`unknown serverId ${id}`);
  return server;
}

function getClient(params) {
  const id = required(params, "clientId");
  const client = clients.get(id);
  if (!client) throw new Error(`unknown clientId ${id}`);
  return client;
}

/** Resolves once the adapter of `nsp` is subscribed (its private response channel has 1 subscriber). */
async function waitSubscribed(server, namespace) {
  const channel = namespace.adapter.specificResponseChannel;
  const deadline = Date.now() + 5000;
  for (;;) {
    const counts = await server.pub.pubSubNumSub(channel);
    if (Number(counts[channel]) >= 1) return;
    if (Date.now() > deadline) throw new Error(`adapter of ${namespace.name} never subscribed`);
    await sleep(10);
  }
}

function setupConnectionHandler(namespace) {
  namespace.on("connection", (socket) => {
    const auth = socket.handshake.auth;
    if (auth && auth.data !== undefined) socket.data = auth.data;
    socket.on("join", async (room, ack) => {
      await socket.join(room);
      if (typeof ack === "function") ack("joined");
    });
    socket.on("leave", async (room, ack) => {
      await socket.leave(room);
      if (typeof ack === "function") ack("left");
    });
  });
}

/** io.of(nsp), making sure a namespace created on demand is wired up and subscribed. */
async function namespaceOf(server, name = "/") {
  const namespace = server.io.of(name);
  if (!server.nsps.has(name)) {
    server.nsps.add(name);
    setupConnectionHandler(namespace);
    await waitSubscribed(server, namespace);
  }
  return namespace;
}

/** The operator for {to, except, volatile, compress, local} applied to a namespace. */
function buildOperator(target, params) {
  let op = target;
  for (const room of asList(params.to)) op = op.to(room);
  const except = asList(params.except);
  if (except.length > 0) op = op.except(except);
  if (params.volatile) op = op.volatile;
  if (params.compress !== undefined && params.compress !== null) op = op.compress(params.compress);
  if (params.local) op = op.local;
  return op;
}

/** Waits until every command queued on the client so far (e.g. PUBLISH) has been processed. */
async function flush(client) {
  await client.ping();
}

function socketDetails(socket) {
  const out = { id: socket.id, handshake: toWire(socket.handshake), rooms: toWire(socket.rooms) };
  if (socket.data !== undefined) out.data = toWire(socket.data);
  return out;
}

function ackResult(err, responses) {
  const result = { responses: toWire(responses === undefined ? null : responses) };
  if (err) result.error = err.message || String(err);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Operations.

const ops = {
  ping: async () => "pong",

  errors: async (params) => {
    const list = uncaughtErrors.slice();
    if (params.clear) uncaughtErrors.length = 0;
    return list;
  },

  startServer: async (params) => {
    const redisUrl = required(params, "redisUrl");
    const pub = await newRedisClient(redisUrl, "pub");
    let sub;
    try {
      sub = await connectRedis(pub.duplicate(), "sub");
    } catch (err) {
      await quitQuietly(pub);
      throw err;
    }
    const adapter = createAdapter(pub, sub, {
      key: params.key || "socket.io",
      requestsTimeout: params.requestsTimeout || 5000,
      publishOnSpecificResponseChannel: !!params.publishOnSpecificResponseChannel,
    });
    const httpServer = http.createServer();
    const io = new Server(httpServer, { adapter });
    await new Promise((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(0, "127.0.0.1", resolve);
    });
    const serverId = nextServerId++;
    const server = { id: serverId, io, httpServer, pub, sub, nsps: new Set(), events: [] };
    servers.set(serverId, server);
    const names = new Set(["/", ...asList(params.namespaces)]);
    for (const name of names) await namespaceOf(server, name);
    return { serverId, port: httpServer.address().port };
  },

  stopServer: async (params) => {
    const server = getServer(params);
    servers.delete(server.id);
    await stopServer(server);
    return null;
  },

  emit: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    const args = fromWire(asList(params.args));
    buildOperator(namespace, params).emit(required(params, "event"), ...args);
    await flush(server.pub);
    return null;
  },

  emitWithAck: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    const args = fromWire(asList(params.args));
    const op = buildOperator(namespace, params).timeout(params.timeout ?? 1000);
    return new Promise((resolve) => {
      op.emit(required(params, "event"), ...args, (err, responses) => {
        resolve(ackResult(err, responses));
      });
    });
  },

  socketsJoin: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    await buildOperator(namespace, params).socketsJoin(required(params, "rooms"));
    await flush(server.pub);
    return null;
  },

  socketsLeave: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    await buildOperator(namespace, params).socketsLeave(required(params, "rooms"));
    await flush(server.pub);
    return null;
  },

  disconnectSockets: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    await buildOperator(namespace, params).disconnectSockets(!!params.close);
    await flush(server.pub);
    return null;
  },

  fetchSockets: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    const sockets = await buildOperator(namespace, params).fetchSockets();
    return sockets.map(socketDetails);
  },

  remoteSocket: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    const sid = required(params, "sid");
    const sockets = await namespace.fetchSockets();
    const socket = sockets.find((s) => s.id === sid);
    if (!socket) throw new Error(`no socket with id ${sid}`);
    const args = fromWire(asList(params.args));
    switch (required(params, "action")) {
      case "emit":
        socket.emit(required(params, "event"), ...args);
        break;
      case "emitWithAck": {
        const response = await socket
          .timeout(params.timeout ?? 2000)
          .emitWithAck(required(params, "event"), ...args);
        return toWire(response);
      }
      case "join":
        await socket.join(required(params, "rooms"));
        break;
      case "leave":
        // A local Socket.leave() takes one room; RemoteSocket.leave() takes one or many.
        for (const room of asList(required(params, "rooms"))) await socket.leave(room);
        break;
      case "disconnect":
        socket.disconnect(!!params.close);
        break;
      default:
        throw new Error(`unknown remoteSocket action ${params.action}`);
    }
    await flush(server.pub);
    return null;
  },

  allRooms: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    return Array.from(await namespace.adapter.allRooms());
  },

  serverCount: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    return await namespace.adapter.serverCount();
  },

  serverSideEmit: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    const event = required(params, "event");
    const args = fromWire(asList(params.args));
    if (!params.withAck) {
      namespace.serverSideEmit(event, ...args);
      await flush(server.pub);
      return null;
    }
    // Namespace#timeout() returns a BroadcastOperator, which has no serverSideEmit in 4.8:
    // the adapter's requestsTimeout is the only timeout for server-side acks.
    return new Promise((resolve) => {
      namespace.serverSideEmit(event, ...args, (err, responses) => {
        resolve(ackResult(err, responses));
      });
    });
  },

  onServerSideEvent: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    const event = required(params, "event");
    const hasReply = Object.prototype.hasOwnProperty.call(params, "reply");
    namespace.on(event, (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      server.events.push({ event, args: toWire(args) });
      if (ack && hasReply) ack(...replyArgs(params.reply));
    });
    return null;
  },

  serverEvents: async (params) => getServer(params).events.slice(),

  localSockets: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    return Array.from(namespace.sockets.values(), (s) => ({ id: s.id, rooms: toWire(s.rooms) }));
  },

  socketJoin: async (params) => {
    const socket = await localSocket(params);
    await socket.join(required(params, "room"));
    return null;
  },

  socketLeave: async (params) => {
    const socket = await localSocket(params);
    for (const room of asList(required(params, "room"))) await socket.leave(room);
    return null;
  },

  clientConnect: async (params) => {
    const url = required(params, "url").replace(/\/+$/, "");
    const nsp = params.nsp || "/";
    const options = {
      transports: ["websocket"],
      forceNew: true,
      reconnection: !!params.reconnection,
    };
    if (params.auth !== undefined && params.auth !== null) options.auth = fromWire(params.auth);
    const socket = ioClient(url + (nsp === "/" ? "" : nsp), options);
    const clientId = nextClientId++;
    const record = { socket, events: [] };
    const hasAckReply = Object.prototype.hasOwnProperty.call(params, "ackReply");
    socket.onAny((event, ...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      record.events.push({ event, args: toWire(args) });
      if (ack && hasAckReply) ack(...replyArgs(params.ackReply));
    });
    socket.on("disconnect", (reason) => record.events.push({ event: "__disconnect", args: [reason] }));
    try {
      await withTimeout(
        new Promise((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("connect_error", reject);
        }),
        5000,
        `timeout connecting to ${url}${nsp}`,
      );
    } catch (err) {
      socket.close();
      throw new Error(`connect_error: ${err.message}`);
    }
    clients.set(clientId, record);
    return { clientId, sid: socket.id };
  },

  clientEvents: async (params) => getClient(params).events.slice(),

  clientEmit: async (params) => {
    const { socket } = getClient(params);
    const event = required(params, "event");
    const args = fromWire(asList(params.args));
    if (!params.withAck) {
      socket.emit(event, ...args);
      return null;
    }
    return new Promise((resolve, reject) => {
      socket.timeout(params.timeout ?? 2000).emit(event, ...args, (err, ...response) => {
        if (err) reject(err);
        else resolve(toWire(response));
      });
    });
  },

  clientClose: async (params) => {
    const record = getClient(params);
    clients.delete(params.clientId);
    record.socket.close();
    return null;
  },

  emitter: async (params) => {
    const redisUrl = required(params, "redisUrl");
    const key = params.key || "socket.io";
    const cacheKey = `${redisUrl}\n${key}`;
    let entry = emitters.get(cacheKey);
    if (!entry) {
      const client = await newRedisClient(redisUrl, "emitter");
      entry = { client, emitter: new Emitter(client, { key }) };
      emitters.set(cacheKey, entry);
    }
    const base = entry.emitter.of(params.nsp || "/");
    const args = fromWire(asList(params.args));
    const action = required(params, "action");
    if (action === "serverSideEmit") {
      if (asList(params.to).length || asList(params.except).length) {
        throw new Error("the emitter's serverSideEmit takes no rooms");
      }
      base.serverSideEmit(required(params, "event"), ...args);
    } else {
      const op = buildOperator(base, { ...params, local: false });
      switch (action) {
        case "emit":
          op.emit(required(params, "event"), ...args);
          break;
        case "socketsJoin":
          op.socketsJoin(required(params, "rooms"));
          break;
        case "socketsLeave":
          op.socketsLeave(required(params, "rooms"));
          break;
        case "disconnectSockets":
          op.disconnectSockets(!!params.close);
          break;
        default:
          throw new Error(`unknown emitter action ${action}`);
      }
    }
    await flush(entry.client);
    return null;
  },

  notepackEncode: async (params) => notepack.encode(fromWire(params.value)).toString("hex"),

  notepackDecode: async (params) => toWire(notepack.decode(Buffer.from(required(params, "hex"), "hex"))),
};

async function localSocket(params) {
  const server = getServer(params);
  const namespace = await namespaceOf(server, params.nsp);
  const sid = required(params, "sid");
  const socket = namespace.sockets.get(sid);
  if (!socket) throw new Error(`no local socket with id ${sid}`);
  return socket;
}

async function stopServer(server) {
  await server.io.close();
  server.httpServer.closeAllConnections();
  await Promise.all([quitQuietly(server.pub), quitQuietly(server.sub)]);
}

// ---------------------------------------------------------------------------------------------
// The JSON-lines loop.

function send(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

async function handleLine(line) {
  if (!line.trim()) return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    send({ id: null, ok: false, error: `invalid JSON: ${err.message}` });
    return;
  }
  const id = request && typeof request === "object" ? request.id ?? null : null;
  try {
    if (!request || typeof request !== "object" || Array.isArray(request)) {
      throw new Error("a request must be a JSON object");
    }
    const handler = Object.prototype.hasOwnProperty.call(ops, request.op) ? ops[request.op] : null;
    if (!handler) throw new Error(`unknown op ${JSON.stringify(request.op)}`);
    const result = await handler(request);
    send({ id, ok: true, result: result === undefined ? null : result });
  } catch (err) {
    send({ id, ok: false, error: err && err.message ? err.message : String(err) });
  }
}

async function shutdown() {
  const work = [];
  for (const { socket } of clients.values()) socket.close();
  clients.clear();
  for (const server of servers.values()) work.push(stopServer(server));
  servers.clear();
  for (const { client } of emitters.values()) work.push(quitQuietly(client));
  emitters.clear();
  await withTimeout(Promise.allSettled(work), 3000, "shutdown timed out").catch((err) => log(err.message));
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  handleLine(line);
});
rl.on("close", () => {
  shutdown().finally(() => process.exit(0));
});

send({ ready: true });
