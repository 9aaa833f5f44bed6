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
 * startServer runs one of three adapters ("adapter" parameter):
 *   classic  createAdapter(pub, sub) of @socket.io/redis-adapter, on one Redis (redisUrl);
 *   sharded  createShardedAdapter(pub, sub) of @socket.io/redis-adapter, on a Redis Cluster
 *            (clusterUrls, node-redis createCluster) or a single Redis 7 (redisUrl);
 *   streams  createAdapter(client) of @socket.io/redis-streams-adapter, on one Redis (redisUrl).
 * Every operation waits until what it published has been processed by Redis, and a server
 * (or a namespace, or a joined room) is only reported ready once Redis confirmed its
 * subscriptions, so a test never races the adapter's asynchronous SUBSCRIBE/XREAD.
 *
 * Values crossing the pipe: binary <-> {"$bin": "<hex>"}, Date <-> {"$date": <ms epoch>}.
 * See tests/interop/node_peer.py for the Python driver.
 */

const http = require("node:http");
const readline = require("node:readline");
const { Server } = require("socket.io");
const { io: ioClient } = require("socket.io-client");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const { createAdapter: createStreamsAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient, createCluster } = require("redis");
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

/** QUIT, or a plain disconnect when QUIT does not finish within 1 s (e.g. a node is dead). */
async function quitQuietly(client) {
  try {
    if (client.isOpen) await withTimeout(client.quit(), 1000, "quit timed out");
  } catch (err) {
    try {
      await client.disconnect();
    } catch (_) {
      // already gone
    }
  }
}

/**
 * Wraps `methods` of a node-redis client (or cluster) so that the promise of every call is
 * kept in `pending` until it settles. Awaiting them proves that Redis processed the commands:
 * the adapters fire PUBLISH/SPUBLISH/XADD and (S)SUBSCRIBE without awaiting them.
 */
function trackCalls(client, methods, pending) {
  for (const name of methods) {
    const original = client[name];
    if (typeof original !== "function") continue;
    client[name] = function (...args) {
      const result = original.apply(this, args);
      if (result && typeof result.then === "function") {
        const tracked = Promise.resolve(result).catch(() => {});
        pending.add(tracked);
        tracked.finally(() => pending.delete(tracked));
      }
      return result;
    };
  }
  return client;
}

/**
 * Resolves once every tracked call, including those started meanwhile, has settled; rejects
 * after `ms` (a command to a dead cluster node waits for a reconnection that never comes).
 */
async function settle(pending, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (pending.size > 0) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${pending.size} ${what} not confirmed by Redis within ${ms} ms`);
    await withTimeout(Promise.allSettled(Array.from(pending)), left, "").catch(() => {});
  }
}

const PUBLISH_METHODS = ["publish", "sPublish", "xAdd"];
const SUBSCRIBE_METHODS = [
  "subscribe", "unsubscribe", "pSubscribe", "pUnsubscribe", "sSubscribe", "sUnsubscribe",
];

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

/** PUBSUB NUMSUB/SHARDNUMSUB of one channel, asked of the node that serves it. */
async function numSub(server, channel, sharded) {
  const args = ["PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", channel];
  const reply = server.cluster
    ? await server.pub.sendCommand(channel, false, args)
    : await server.pub.sendCommand(args);
  return Number(reply[1]);
}

/** The channels an adapter listens on, and how (for readiness checks and adapterInfo). */
function adapterChannels(server, namespace) {
  const adapter = namespace.adapter;
  switch (server.kind) {
    case "classic":
      return { sharded: false, main: adapter.channel, private: adapter.specificResponseChannel };
    case "sharded":
      return { sharded: true, main: adapter.channel, private: adapter.responseChannel };
    case "streams": {
      const prefix = `${server.options.channelPrefix}#${namespace.name}#`;
      return { sharded: server.options.useShardedPubSub, main: prefix, private: `${prefix}${adapter.uid}#` };
    }
    default:
      throw new Error(`unknown adapter kind ${server.kind}`);
  }
}

/** Resolves once the streams readers of `server` (one per stream) are blocked in XREAD. */
async function waitReading(server) {
  const readers = server.options.streamCount ?? 1;
  const deadline = Date.now() + 5000;
  for (;;) {
    const list = String(await server.pub.sendCommand(["CLIENT", "LIST", "TYPE", "normal"]));
    const blocked = list.split("\n").filter((line) => {
      const fields = Object.fromEntries(line.split(" ").map((kv) => kv.split("=", 2)));
      return fields.name === server.clientName && fields.cmd === "xread" && fields.flags.includes("b");
    });
    if (blocked.length >= readers) return;
    if (Date.now() > deadline) throw new Error(`streams reader of server ${server.id} never blocked in XREAD`);
    await sleep(10);
  }
}

/**
 * Resolves once the adapter of `namespace` is subscribed: the subscriptions it issued are
 * confirmed and its private channel counts one subscriber on the node that serves it; for
 * the streams adapter, also once its reader waits in XREAD (an XADD before that is missed).
 */
async function waitSubscribed(server, namespace) {
  const { sharded, private: channel } = adapterChannels(server, namespace);
  const deadline = Date.now() + 5000;
  for (;;) {
    await settle(server.subscribing, "(un)subscriptions");
    if ((await numSub(server, channel, sharded)) >= 1) break;
    if (Date.now() > deadline) throw new Error(`adapter of ${namespace.name} never subscribed`);
    await sleep(10);
  }
  // The main channel is subscribed by its own command, possibly on another cluster node.
  await settle(server.subscribing, "(un)subscriptions");
  if (server.kind === "streams") await waitReading(server);
}

function setupConnectionHandler(server, namespace) {
  namespace.on("connection", (socket) => {
    const auth = socket.handshake.auth;
    if (auth && auth.data !== undefined) socket.data = auth.data;
    // Sharded adapter, dynamic modes: joining a room subscribes to its channel; the ack
    // waits for Redis to confirm, so a broadcast right after it is not missed.
    const roomHandler = (action, reply) => async (room, ack) => {
      let answer = reply;
      try {
        await action(room);
        await settle(server.subscribing, "(un)subscriptions");
      } catch (err) {
        answer = `error: ${err.message}`;
      }
      if (typeof ack === "function") ack(answer);
    };
    socket.on("join", roomHandler((room) => socket.join(room), "joined"));
    socket.on("leave", roomHandler((room) => socket.leave(room), "left"));
  });
}

/** io.of(nsp), making sure a namespace created on demand is wired up and subscribed. */
async function namespaceOf(server, name = "/") {
  const namespace = server.io.of(name);
  if (!server.nsps.has(name)) {
    server.nsps.add(name);
    setupConnectionHandler(server, namespace);
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

/**
 * Waits until what the server's adapter published so far was processed by Redis, and its
 * (un)subscriptions (e.g. rooms joined on a remote request) are confirmed.
 */
async function flushServer(server) {
  await settle(server.publishing, "publications");
  if (!server.cluster) await flush(server.pub);
  await settle(server.subscribing, "(un)subscriptions");
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
// Adapters.

/** startServer parameters that are options of each adapter kind. */
const ADAPTER_OPTIONS = {
  classic: ["key", "requestsTimeout", "publishOnSpecificResponseChannel"],
  sharded: ["channelPrefix", "subscriptionMode"],
  streams: [
    "streamName",
    "streamCount",
    "channelPrefix",
    "useShardedPubSub",
    "maxLen",
    "readCount",
    "blockTimeInMs",
    "sessionKeyPrefix",
    "onlyPlaintext",
  ],
};
const ADAPTER_DEFAULTS = {
  classic: { key: "socket.io", requestsTimeout: 5000, publishOnSpecificResponseChannel: false },
  sharded: { channelPrefix: "socket.io", subscriptionMode: "dynamic" },
  streams: { channelPrefix: "socket.io", useShardedPubSub: false },
};
const SERVER_PARAMS = new Set([
  "id", "op", "adapter", "redisUrl", "clusterUrls", "namespaces", "connectionStateRecovery",
]);

/** The adapter options among startServer's params; an option of another kind is an error. */
function adapterOptions(kind, params) {
  const options = { ...ADAPTER_DEFAULTS[kind] };
  for (const [name, value] of Object.entries(params)) {
    if (SERVER_PARAMS.has(name) || value === undefined || value === null) continue;
    if (!ADAPTER_OPTIONS[kind].includes(name)) {
      throw new Error(`"${name}" is not a startServer parameter of the ${kind} adapter`);
    }
    options[name] = value;
  }
  return options;
}

/** Connects server.pub (and server.sub, except for streams, which duplicates its own). */
async function connectServerClients(server, params) {
  const name = `server ${server.id}`;
  if (server.cluster) {
    if (params.redisUrl !== undefined) throw new Error("give redisUrl or clusterUrls, not both");
    if (server.kind !== "sharded") {
      throw new Error(`the ${server.kind} adapter runs on one Redis here: give redisUrl`);
    }
    const rootNodes = asList(params.clusterUrls).map((url) => ({ url }));
    server.pub = await connectRedis(createCluster({ rootNodes }), `${name} pub`);
  } else {
    const url = required(params, "redisUrl");
    server.pub = await connectRedis(createClient({ url, name: server.clientName }), `${name} pub`);
  }
  trackCalls(server.pub, PUBLISH_METHODS, server.publishing);
  if (server.kind === "streams") {
    // The streams adapter duplicates the client for its reader and its subscriber.
    const duplicate = server.pub.duplicate;
    server.pub.duplicate = function (...args) {
      return trackCalls(duplicate.apply(this, args), SUBSCRIBE_METHODS, server.subscribing);
    };
    return;
  }
  try {
    server.sub = await connectRedis(server.pub.duplicate(), `${name} sub`);
  } catch (err) {
    await quitQuietly(server.pub);
    throw err;
  }
  trackCalls(server.sub, SUBSCRIBE_METHODS, server.subscribing);
}

function makeAdapter(server) {
  switch (server.kind) {
    case "classic":
      return createAdapter(server.pub, server.sub, server.options);
    case "sharded":
      return createShardedAdapter(server.pub, server.sub, server.options);
    case "streams":
      return createStreamsAdapter(server.pub, server.options);
    default:
      throw new Error(`unknown adapter kind ${server.kind}`);
  }
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
    const kind = params.adapter ?? "classic";
    if (!Object.prototype.hasOwnProperty.call(ADAPTER_OPTIONS, kind)) {
      throw new Error(`unknown adapter ${JSON.stringify(kind)} (classic, sharded or streams)`);
    }
    const options = adapterOptions(kind, params);
    const serverId = nextServerId++;
    const server = {
      id: serverId,
      kind,
      options,
      cluster: params.clusterUrls !== undefined,
      clientName: `sio-peer-${process.pid}-${serverId}`,
      nsps: new Set(),
      events: [],
      publishing: new Set(),
      subscribing: new Set(),
    };
    await connectServerClients(server, params);
    try {
      const serverOptions = { adapter: makeAdapter(server) };
      if (params.connectionStateRecovery) {
        serverOptions.connectionStateRecovery = fromWire(params.connectionStateRecovery);
      }
      server.httpServer = http.createServer();
      server.io = new Server(server.httpServer, serverOptions);
      await new Promise((resolve, reject) => {
        server.httpServer.once("error", reject);
        server.httpServer.listen(0, "127.0.0.1", resolve);
      });
      servers.set(serverId, server);
      const names = new Set(["/", ...asList(params.namespaces)]);
      for (const name of names) await namespaceOf(server, name);
    } catch (err) {
      servers.delete(serverId);
      await stopServer(server);
      throw err;
    }
    const port = server.httpServer.address().port;
    return { serverId, port, kind, uid: server.io.of("/").adapter.uid };
  },

  adapterInfo: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    const channels = adapterChannels(server, namespace);
    return {
      kind: server.kind,
      uid: namespace.adapter.uid,
      mainChannel: channels.main,
      privateChannel: channels.private,
      sharded: channels.sharded,
      cluster: server.cluster,
      clientName: server.clientName,
      options: server.options,
    };
  },

  waitSubscriptions: async (params) => {
    await settle(getServer(params).subscribing, "(un)subscriptions");
    return null;
  },

  redisCommand: async (params) => {
    const server = getServer(params);
    const args = asList(required(params, "args")).map(String);
    const reply = server.cluster
      ? await server.pub.sendCommand(params.key ?? undefined, false, args)
      : await server.pub.sendCommand(args);
    return toWire(reply);
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
    await flushServer(server);
    return null;
  },

  // Benchmark sender: `count` broadcasts round-robin over `rooms`, emitted inside Node (one
  // pipe round trip in all), yielding to I/O every 100 emits; times are performance.now() ms.
  // With `stamp`, each emit's second argument is its send time, CLOCK_MONOTONIC ms (for
  // latency, against Python's time.monotonic(): bench/clock.py).
  emitMany: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    const rooms = asList(required(params, "rooms"));
    const count = required(params, "count");
    const event = required(params, "event");
    const padding = params.payloadSize ? "x".repeat(params.payloadSize) : null;
    const first = performance.now();
    for (let i = 0; i < count; i++) {
      const args = [i];
      if (params.stamp) args.push(Number(process.hrtime.bigint()) / 1e6);
      if (padding !== null) args.push(padding);
      namespace.to(rooms[i % rooms.length]).emit(event, ...args);
      if (i % 100 === 99) await new Promise(setImmediate);
    }
    const last = performance.now();
    await flushServer(server);
    return { first, last, flushed: performance.now() };
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
    await flushServer(server);
    return null;
  },

  socketsLeave: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    await buildOperator(namespace, params).socketsLeave(required(params, "rooms"));
    await flushServer(server);
    return null;
  },

  disconnectSockets: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    await buildOperator(namespace, params).disconnectSockets(!!params.close);
    await flushServer(server);
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
    await flushServer(server);
    return null;
  },

  allRooms: async (params) => {
    const server = getServer(params);
    const namespace = await namespaceOf(server, params.nsp);
    if (typeof namespace.adapter.allRooms !== "function") {
      throw new Error(`allRooms: the ${server.kind} adapter (a ClusterAdapter) has no allRooms`);
    }
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
      await flushServer(server);
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
    await settle(getServer(params).subscribing, "(un)subscriptions");
    return null;
  },

  socketLeave: async (params) => {
    const socket = await localSocket(params);
    for (const room of asList(required(params, "room"))) await socket.leave(room);
    await settle(getServer(params).subscribing, "(un)subscriptions");
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
    if (params.perMessageDeflate !== undefined) options.perMessageDeflate = params.perMessageDeflate;
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
  if (server.io) {
    // The adapters unsubscribe on close, which never ends while a cluster node is dead.
    await withTimeout(server.io.close(), 2000, `server ${server.id}: io.close() timed out`).catch(
      (err) => log(err.message),
    );
    server.httpServer.closeAllConnections();
  }
  await Promise.all([server.pub, server.sub].filter(Boolean).map(quitQuietly));
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
