"use strict";
/*
 * The benchmark's load generator: every Socket.IO client connection of a run, in one process.
 *
 * Driven by bench/run.py over stdin/stdout, one JSON object per line:
 *   request:  {"id": <int>, "op": "<name>", ...params}
 *   reply:    {"id": <int>, "ok": true, "result": ...} | {"id": <int>, "ok": false, "error": "..."}
 * The first stdout line is {"ready": true}; logs go to stderr; stdin closing ends the process.
 *
 * Ops:
 *   connect    {group, url, n, rooms?, parallel?}
 *              n clients (websocket transport, forceNew, no reconnection), at most `parallel`
 *              (default 50) handshakes at a time; with rooms, client j joins rooms[j % R]
 *   join       {group, client_rooms, parallel?}   client j of the group also joins the list
 *              client_rooms[j] (one "join" event, a list when there are several)
 *   disconnect {group}
 *   warm       {control, groups, timeout_ms}  A emits "w" until every client of groups got one
 *   run        {control, groups, params, idle_timeout_ms, hard_timeout_ms}
 *              A runs its emit loop ("bench:run" with params); every "m" is counted per client,
 *              latency = receive wall time - payload t, losses by seq; broadcast seq goes to
 *              params.rooms[seq % R] (everyone without rooms). Returns when every
 *              expected delivery arrived, or nothing arrived for idle_timeout_ms after A's ack,
 *              or hard_timeout_ms passed.
 *
 * Modules come from tests/interop/node/node_modules (bench/run.py sets NODE_PATH).
 */

const readline = require("node:readline");
const { io } = require("socket.io-client");

const log = (...args) => console.error("[loadgen]", ...args);
// CLOCK_MONOTONIC ms, the clock Python reads as time.monotonic(): see bench/clock.py.
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const groups = new Map(); // name -> [client]
const controls = new Map(); // url -> socket
let currentRun = null;
let currentWarm = null;

function newSocket(url) {
  return io(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    perMessageDeflate: false,
    timeout: 20000,
  });
}

function onceConnected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

function emitWithAck(socket, event, payload, timeoutMs) {
  return socket.timeout(timeoutMs).emitWithAck(event, payload);
}

function makeClient(url, group) {
  const socket = newSocket(url);
  const client = { socket, group, rooms: [], disconnects: 0 };
  socket.on("m", (d) => {
    const run = currentRun;
    if (run === null) return;
    const now = nowMs();
    run.lastActivity = now;
    run.lastRecv = now;
    const state = client.state;
    if (state === undefined || state.run !== run) {
      run.strays++;
      return;
    }
    const seq = d.seq;
    if (!(seq >= 0 && seq < run.count)) {
      run.unexpected++;
      return;
    }
    if (run.nRooms && !state.roomIndexes.includes(seq % run.nRooms)) {
      run.unexpected++;
      return;
    }
    const bit = 1 << (seq & 7);
    if (state.seen[seq >> 3] & bit) {
      run.duplicates++;
      return;
    }
    state.seen[seq >> 3] |= bit;
    state.got++;
    const latency = now - d.t;
    if (run.received < run.latencies.length) run.latencies[run.received] = latency;
    if (latency > run.seqMax[seq]) run.seqMax[seq] = latency;
    run.received++;
    if (run.received === run.expected && run.resolveComplete) run.resolveComplete();
  });
  socket.on("w", (d) => {
    const warm = currentWarm;
    if (warm !== null && d.k === warm.k && client.warmK !== warm.k) {
      client.warmK = warm.k;
      warm.lastArrival = nowMs();
      warm.pending--;
      if (warm.pending === 0) warm.resolve();
    }
  });
  socket.on("disconnect", (reason) => {
    client.disconnects++;
    if (currentRun !== null) currentRun.disconnects++;
    if (!client.closing) log(`client of ${group} disconnected: ${reason}`);
  });
  return client;
}

async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}

async function joinRooms(client, rooms) {
  if (!rooms || rooms.length === 0) return;
  // One room as a string (as a plain app does), several as one list.
  const arg = rooms.length === 1 ? rooms[0] : rooms;
  const ok = await emitWithAck(client.socket, "join", arg, 20000);
  if (ok !== true) throw new Error(`join ${JSON.stringify(arg)} answered ${JSON.stringify(ok)}`);
  client.rooms.push(...rooms);
}

function clientsOf(names) {
  const out = [];
  for (const name of names) {
    const list = groups.get(name);
    if (!list) throw new Error(`no client group ${name}`);
    out.push(...list);
  }
  return out;
}

async function control(url) {
  let socket = controls.get(url);
  if (socket && socket.connected) return socket;
  socket = newSocket(`${url}/bench`); // its own namespace: broadcasts on "/" never reach it
  await onceConnected(socket);
  controls.set(url, socket);
  return socket;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

const ops = {
  async clock() {
    return { now: nowMs() };
  },

  async connect({ group, url, n, rooms, parallel }) {
    if (groups.has(group)) throw new Error(`group ${group} exists`);
    const started = nowMs();
    const clients = [];
    groups.set(group, clients);
    // Bounded: thousands of simultaneous handshakes would time out on a busy server.
    await mapLimit(Array.from({ length: n }), parallel || 50, async (_, j) => {
      const client = makeClient(url, group);
      clients.push(client);
      await onceConnected(client.socket);
      if (rooms && rooms.length) await joinRooms(client, [rooms[j % rooms.length]]);
    });
    return { connected: n, ms: nowMs() - started };
  },

  async join({ group, client_rooms, parallel }) {
    const clients = clientsOf([group]);
    const started = nowMs();
    await mapLimit(clients, parallel || 50, (client, j) => joinRooms(client, client_rooms[j]));
    return { joined: clients.length, ms: nowMs() - started };
  },

  async disconnect({ group }) {
    const clients = groups.get(group) || [];
    groups.delete(group);
    for (const client of clients) {
      client.closing = true;
      client.socket.disconnect();
    }
    return { disconnected: clients.length };
  },

  async warm({ control: url, groups: names, timeout_ms }) {
    const socket = await control(url);
    const clients = clientsOf(names);
    const deadline = nowMs() + (timeout_ms || 10000);
    let attempts = 0;
    while (nowMs() < deadline) {
      attempts++;
      const k = Math.floor(Math.random() * 1e9);
      const warm = { k, pending: clients.length, resolve: null, lastArrival: 0 };
      const done = new Promise((resolve) => (warm.resolve = resolve));
      currentWarm = warm;
      if (warm.pending === 0) warm.resolve();
      await emitWithAck(socket, "bench:warm", { k }, 10000);
      warm.lastArrival = nowMs();
      // Try again once nothing arrived for 300 ms (a subscription not in place yet); a big
      // fan-out still arriving is waited for.
      let ok = false;
      while (!ok && nowMs() - warm.lastArrival < 300) {
        ok = await Promise.race([done.then(() => true), sleep(50).then(() => false)]);
      }
      currentWarm = null;
      if (ok) return { attempts };
    }
    throw new Error(`warm-up: some of ${clients.length} clients got nothing after ${attempts} tries`);
  },

  async run({ control: url, groups: names, params, idle_timeout_ms, hard_timeout_ms }) {
    const socket = await control(url);
    const clients = clientsOf(names);
    const count = Number(params.count);
    const rooms = params.rooms || [];
    const nRooms = rooms.length;
    const run = {
      count,
      nRooms,
      expected: 0,
      received: 0,
      duplicates: 0,
      unexpected: 0,
      strays: 0,
      disconnects: 0,
      lastRecv: null,
      lastActivity: nowMs(),
      latencies: null,
      resolveComplete: null,
    };
    const roomIndex = new Map(rooms.map((room, i) => [room, i]));
    const perRoom = (i) => Math.floor(count / nRooms) + (i < count % nRooms ? 1 : 0);
    for (const client of clients) {
      let expected = count;
      const roomIndexes = [];
      if (nRooms) {
        expected = 0;
        for (const room of new Set(client.rooms)) {
          const i = roomIndex.get(room);
          if (i === undefined) throw new Error(`client room ${room} not in run rooms`);
          roomIndexes.push(i);
          expected += perRoom(i);
        }
      }
      const seen = new Uint8Array((count + 7) >> 3);
      client.state = { run, roomIndexes, seen, got: 0, expected };
      run.expected += expected;
    }
    run.latencies = new Float64Array(run.expected);
    run.seqMax = new Float64Array(count); // the slowest delivery of each broadcast
    const complete = new Promise((resolve) => (run.resolveComplete = resolve));
    if (run.expected === 0) run.resolveComplete();
    currentRun = run;
    const started = nowMs();
    let ack = null;
    let ackError = null;
    const ackPromise = emitWithAck(socket, "bench:run", params, hard_timeout_ms).then(
      (value) => {
        ack = value;
        run.lastActivity = Math.max(run.lastActivity, nowMs());
      },
      (err) => {
        ackError = String(err && err.message ? err.message : err);
      },
    );
    const hardDeadline = started + hard_timeout_ms;
    let timedOut = false;
    // Wait for every delivery; else for silence after A's ack; else the hard deadline.
    for (;;) {
      const done = await Promise.race([complete.then(() => true), sleep(50).then(() => false)]);
      if (done) break;
      const now = nowMs();
      if (now > hardDeadline) {
        timedOut = true;
        break;
      }
      if ((ack !== null || ackError !== null) && now - run.lastActivity > idle_timeout_ms) {
        timedOut = true;
        break;
      }
    }
    const completedAt = nowMs();
    await Promise.race([ackPromise, sleep(Math.max(0, hardDeadline - nowMs()))]);
    currentRun = null;
    let lost = 0;
    let clientsShort = 0;
    for (const client of clients) {
      const missing = client.state.expected - client.state.got;
      lost += missing;
      if (missing) clientsShort++;
      client.state = undefined;
    }
    const lat = run.latencies.subarray(0, Math.min(run.received, run.latencies.length)).sort();
    let sum = 0;
    for (let i = 0; i < lat.length; i++) sum += lat[i];
    return {
      clients: clients.length,
      expected: run.expected,
      received: run.received,
      lost,
      clients_short: clientsShort,
      duplicates: run.duplicates,
      unexpected: run.unexpected,
      strays: run.strays,
      disconnects: run.disconnects,
      timed_out: timedOut,
      ack,
      ack_error: ackError,
      started,
      completed_at: completedAt,
      first_send: ack ? ack.first_send : null,
      last_send: ack ? ack.last_send : null,
      last_recv: run.lastRecv,
      // per broadcast, for runs short enough to list: which broadcasts were slow
      seq_max_ms: count <= 1000 ? Array.from(run.seqMax, (v) => Math.round(v * 10) / 10) : null,
      latency_ms: {
        mean: lat.length ? sum / lat.length : null,
        p50: percentile(lat, 0.5),
        p90: percentile(lat, 0.9),
        p99: percentile(lat, 0.99),
        max: lat.length ? lat[lat.length - 1] : null,
      },
    };
  },
};

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  if (!line.trim()) return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    reply({ id: null, ok: false, error: `bad JSON: ${err.message}` });
    return;
  }
  const { id, op, ...params } = request;
  const fn = ops[op];
  if (!fn) {
    reply({ id, ok: false, error: `unknown op ${op}` });
    return;
  }
  try {
    reply({ id, ok: true, result: await fn(params) });
  } catch (err) {
    reply({ id, ok: false, error: String(err && err.stack ? err.stack : err) });
  }
});
rl.on("close", () => {
  for (const clients of groups.values()) for (const c of clients) c.socket.disconnect();
  for (const socket of controls.values()) socket.disconnect();
  process.exit(0);
});
reply({ ready: true });
