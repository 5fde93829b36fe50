// roomcast's load generator: raw Engine.IO v4 / Socket.IO 5 over WebSocket (its own minimal client on plain TCP sockets), so that every
// server under test (roomcast, python-socketio, Node socket.io, a bare websockets relay) meets the same client.
//
// Usage: node bench/loadgen.js '<json options>'   — prints one JSON line with the result on stdout.
// Options: {scenario: "fanout"|"ack"|"idle"|"polling"|"chat", host, port, path, clients, seconds, warmup,
//           window, rate, inflight, concurrency, payload, hold, serverPid, jwtSecret, chat, roomSize, interval,
//           minSamples, parser}
//
// `parser: "msgpack"`: the clients speak socket.io-msgpack-parser (binary frames, packets encoded by the npm
// package, read in place from the frames' bytes); the server must run the same parser.
//
// Two apps run on every server. The bench app: "join"(room) joins and acks; "fanout"(payload) emits
// "msg"(payload) to room "bench"; "echo"(payload) acks the payload back. The chat app (`chat: true`, the one
// `roomcast serve` runs): a JWT in the CONNECT packet (HS256 signed with `jwtSecret`, claims id, name and
// an expiry an hour ahead: the chat refuses
// tokens that never expire);
// "join"(room) acks {"status":"ok"}; "message"({message, roomName}) reaches everyone else in the room as
// "message"({name, id, message}) and acks {"status":"ok"}.
// The generator reports its own CPU time next to the server's (read from /proc) so a saturated generator is
// visible in the results.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const net = require("net");

const opts = Object.assign(
  {
    host: "127.0.0.1",
    port: 8000,
    path: "/socket.io/",
    clients: 100,
    seconds: 5,
    warmup: 1,
    window: 64,
    rate: 0,
    inflight: 50,
    concurrency: 100,
    payload: 16,
    hold: 2,
    serverPid: 0,
    jwtSecret: "",
    chat: false,
    roomSize: 10,
    interval: 5,
    minSamples: 0,
    parser: "json",
  },
  JSON.parse(process.argv[2] || "{}"),
);

const TICKS = 100; // USER_HZ on Linux
function serverCpu() {
  if (!opts.serverPid) return 0;
  try {
    const fields = fs.readFileSync(`/proc/${opts.serverPid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime, seconds
  } catch {
    return 0;
  }
}
function ownCpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
function serverRss() {
  if (!opts.serverPid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${opts.serverPid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// Latency histograms: 10 µs bins up to 10 s.
const BIN_US = 10;
class Histogram {
  constructor() {
    this.bins = new Uint32Array(1_000_000);
    this.count = 0;
  }
  record(ms) {
    let bin = Math.floor((ms * 1000) / BIN_US);
    if (bin >= this.bins.length) bin = this.bins.length - 1;
    if (bin < 0) bin = 0;
    this.bins[bin]++;
    this.count++;
  }
  percentile(p) {
    if (this.count === 0) return null;
    const target = Math.ceil(this.count * p);
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i];
      if (seen >= target) return ((i + 0.5) * BIN_US) / 1000;
    }
    return null;
  }
}
// Every scenario's latency: each delivery, or each acked round trip.
const hist = new Histogram();
const record = (ms) => hist.record(ms);
const percentile = (p) => hist.percentile(p);


// A raw WebSocket client on a plain TCP socket: the frames are parsed in place from each received chunk, with
// no allocation or string decoding per message, so that one generator process can count far more messages per
// second than any server under test can send. Client frames carry a zero mask (valid; unpredictability is a
// browser-security rule that means nothing for a benchmark).
const UPGRADE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function frame(text) {
  const payload = typeof text === "string" ? Buffer.from(text) : text;
  const op = typeof text === "string" ? 0x81 : 0x82;
  const n = payload.length;
  let head;
  if (n < 126) head = Buffer.from([op, 0x80 | n, 0, 0, 0, 0]);
  else if (n < 65536) head = Buffer.from([op, 0x80 | 126, n >> 8, n & 255, 0, 0, 0, 0]);
  else throw new Error("frame too large for the load generator");
  return Buffer.concat([head, payload]);
}

// The msgpack parser: packets encoded by the npm package, and read in place: a packet's type follows its
// "type" key, an ack's id its "id" key, a fan-out message's number its "s" key (msgpack unsigned ints).
const MSGPACK = opts.parser === "msgpack";
const mpEncoder = MSGPACK ? new (require("socket.io-msgpack-parser").Encoder)() : null;
const mp = (packet) => mpEncoder.encode(packet)[0];
const MP_TYPE = Buffer.from([0xa4, 0x74, 0x79, 0x70, 0x65]);
const MP_ID = Buffer.from([0xa2, 0x69, 0x64]);
function readMpInt(buf, i) {
  const b = buf[i];
  if (b < 0x80) return b;
  if (b === 0xcc) return buf[i + 1];
  if (b === 0xcd) return buf.readUInt16BE(i + 1);
  if (b === 0xce) return buf.readUInt32BE(i + 1);
  if (b === 0xcf) return Number(buf.readBigUInt64BE(i + 1));
  return -1;
}
function mpAfter(key, buf, start, end) {
  const i = buf.indexOf(key, start);
  return i < 0 || i + key.length >= end ? -1 : readMpInt(buf, i + key.length);
}

function readInt(buf, i, end) {
  let n = 0;
  for (; i < end; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  return [n, i];
}

// The chat's HS256 token of user `u<index>`, made here as a login service would.
function token(index) {
  const part = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const signed = `${part({ alg: "HS256", typ: "JWT" })}.${part({ id: `u${index}`, name: `user ${index}`, iat: now, exp: now + 3600 })}`;
  return `${signed}.${crypto.createHmac("sha256", opts.jwtSecret).update(signed).digest("base64url")}`;
}

// One raw Socket.IO client on the main namespace. onEvent(buf, start, end) receives every "42..." payload.
// With `jwtSecret`, the CONNECT packet carries the token of user `u<index>`.
function connect(onEvent, index = 0) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(opts.port, opts.host);
    sock.setNoDelay(true);
    const acks = new Map();
    let ackId = 0;
    let upgraded = false;
    let pending = null;
    const client = {
      sock,
      emit(text) {
        sock.write(frame(text));
      },
      emitWithAck(event, arg) {
        const id = ackId++;
        return new Promise((res) => {
          acks.set(id, res);
          if (MSGPACK) sock.write(frame(mp({ type: 2, data: [event, arg], id, nsp: "/" })));
          else sock.write(frame(`42${id}${JSON.stringify([event, arg])}`));
        });
      },
      close() {
        sock.destroy();
      },
    };
    function onAck(id) {
      const res = acks.get(id);
      if (res) {
        acks.delete(id);
        res();
      }
    }
    function onBinary(buf, start, end) {
      const t = mpAfter(MP_TYPE, buf, start, end);
      if (t === 2) onEvent(buf, start, end);
      else if (t === 3) onAck(mpAfter(MP_ID, buf, start, end));
      else if (t === 0) resolve(client);
      else if (t === 4) reject(new Error("connect error (msgpack)"));
    }
    function onText(buf, start, end) {
      const c = buf[start];
      if (c === 52 /* 4: message */) {
        const t = buf[start + 1];
        if (t === 50 /* 2: event */) onEvent(buf, start, end);
        else if (t === 51 /* 3: ack */) onAck(readInt(buf, start + 2, end)[0]);
        else if (t === 48 /* 0: connected */) resolve(client);
        else if (t === 52 /* 4: connect error */) reject(new Error(buf.toString("utf8", start, end)));
      } else if (c === 50 /* 2: ping */) sock.write(frame("3"));
      else if (c === 48 /* 0: open */ && MSGPACK) {
        const connect = { type: 0, nsp: "/" };
        if (opts.jwtSecret) connect.data = { token: token(index) };
        sock.write(frame(mp(connect)));
      } else if (c === 48 /* 0: open */)
        sock.write(frame(opts.jwtSecret ? `40${JSON.stringify({ token: token(index) })}` : "40"));
    }
    function parse(buf) {
      let off = 0;
      const len = buf.length;
      while (off + 2 <= len) {
        const opcode = buf[off] & 0x0f;
        let size = buf[off + 1] & 0x7f;
        let head = 2;
        if (size === 126) {
          if (off + 4 > len) break;
          size = buf.readUInt16BE(off + 2);
          head = 4;
        } else if (size === 127) {
          if (off + 10 > len) break;
          size = Number(buf.readBigUInt64BE(off + 2));
          head = 10;
        }
        if (off + head + size > len) break;
        const start = off + head;
        if (opcode === 1) onText(buf, start, start + size);
        else if (opcode === 2) onBinary(buf, start, start + size);
        else if (opcode === 8) sock.end();
        off = start + size;
      }
      pending = off < len ? buf.subarray(off) : null;
    }
    sock.on("connect", () => {
      sock.write(
        `GET ${opts.path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${UPGRADE_KEY}\r\n` +
          `Sec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    sock.on("data", (chunk) => {
      let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      if (!upgraded) {
        const i = buf.indexOf("\r\n\r\n");
        if (i < 0) {
          pending = buf;
          return;
        }
        if (!buf.toString("latin1", 0, 12).startsWith("HTTP/1.1 101")) {
          reject(new Error(`upgrade refused: ${buf.toString("latin1", 0, i)}`));
          sock.destroy();
          return;
        }
        upgraded = true;
        buf = buf.subarray(i + 4);
      }
      parse(buf);
    });
    sock.on("error", reject);
  });
}

async function connectMany(n, onEvent) {
  const out = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      out[i] = await connect((buf, start, end) => onEvent(i, buf, start, end), i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, n) }, worker));
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The bench app's fan-out payload is {"s": seq, "p": pad}; the chat's message text starts with the number.
const SEQ_KEY = Buffer.from(opts.chat ? '"message":' : '"s":');
const MP_SEQ = Buffer.from([0xa1, 0x73]); // "s" as a msgpack fixstr
// The number (sequence or send time) carried by a fan-out message, read straight from the frame's bytes.
function seqOf(buf, start, end) {
  if (MSGPACK) return mpAfter(MP_SEQ, buf, start, end);
  const i = buf.indexOf(SEQ_KEY, start);
  if (i < 0 || i >= end) return -1;
  let j = i + SEQ_KEY.length;
  while (j < end && (buf[j] === 32 || buf[j] === 34)) j++; // a space, the string's opening quote
  return readInt(buf, j, end)[0];
}

// The measured window shared by the scenarios: a warm-up, then `seconds` during which
// setMeasuring(true) holds, with the CPU time of the generator and the server read around it.
async function measureWindow(setMeasuring) {
  await sleep(opts.warmup * 1000);
  setMeasuring(true);
  const c0 = ownCpu();
  const s0 = serverCpu();
  const t0 = performance.now();
  await sleep(opts.seconds * 1000);
  // A smoke run (minSamples > 0) waits, up to 20 s more, for the latency samples it needs to report.
  const patience = performance.now() + 20000;
  while (hist.count < opts.minSamples && performance.now() < patience) await sleep(10);
  const elapsed = (performance.now() - t0) / 1000;
  setMeasuring(false);
  return {
    elapsed,
    loadgen_cpu: (ownCpu() - c0) / elapsed,
    server_cpu: (serverCpu() - s0) / elapsed,
  };
}

async function fanout() {
  const n = opts.clients;
  const RING = 1 << 16;
  const sentAt = new Float64Array(RING);
  const got = new Int32Array(RING);
  let measuring = false;
  let delivered = 0;
  let completed = 0; // messages delivered to every client
  let seq = 0;
  let wake = null;
  const pad = "x".repeat(opts.payload);
  const reachAll = new Histogram(); // from the send until the last receiver got it

  const receivers = await connectMany(n, (_i, buf, start, end) => {
    const s = seqOf(buf, start, end);
    if (s < 0) return;
    const now = performance.now();
    const slot = s & (RING - 1);
    if (measuring) {
      delivered++;
      record(now - sentAt[slot]);
    }
    if (++got[slot] === n) {
      got[slot] = 0;
      completed++;
      if (measuring) reachAll.record(now - sentAt[slot]);
      if (wake) {
        const w = wake;
        wake = null;
        w();
      }
    }
  });
  await Promise.all(receivers.map((c) => c.emitWithAck("join", "bench")));
  const sender = await connect(() => {}, n);
  if (opts.chat) await sender.emitWithAck("join", "bench");

  let offered = 0; // deliveries asked for in the measured window
  function sendOne() {
    if (measuring) offered += n;
    const slot = seq & (RING - 1);
    sentAt[slot] = performance.now();
    // the chat relays to everyone in the room but the sender, and acks the sender (the ack is not awaited)
    if (opts.chat) sender.emitWithAck("message", { message: `${seq} ${pad}`, roomName: "bench" });
    else if (MSGPACK) sender.emit(mp({ type: 2, data: ["fanout", { s: seq, p: pad }], nsp: "/" }));
    else sender.emit(`42["fanout",{"s":${seq},"p":"${pad}"}]`);
    seq++;
  }

  let stop = false;
  const run = (async () => {
    if (opts.rate > 0) {
      // Paced: `rate` deliveries per second in total, i.e. rate / clients messages per second.
      const perMsg = (1000 * n) / opts.rate;
      const start = performance.now();
      let k = 0;
      while (!stop) {
        const due = start + k * perMsg;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        sendOne();
        k++;
      }
    } else {
      while (!stop) {
        if (seq - completed >= opts.window) {
          await new Promise((r) => (wake = r));
          continue;
        }
        sendOne();
        if ((seq & 15) === 0) await new Promise((r) => setImmediate(r));
      }
    }
  })();

  const { elapsed, loadgen_cpu, server_cpu } = await measureWindow((on) => (measuring = on));
  stop = true;
  if (wake) wake();
  await run;
  for (const c of receivers) c.close();
  sender.close();
  return {
    delivered_per_s: delivered / elapsed,
    offered_per_s: offered / elapsed,
    p50_ms: percentile(0.5),
    p99_ms: percentile(0.99),
    reach_all_p50_ms: reachAll.percentile(0.5),
    reach_all_p99_ms: reachAll.percentile(0.99),
    loadgen_cpu,
    server_cpu,
  };
}

async function ack() {
  const clients = await connectMany(opts.clients, () => {});
  // The chat: a message to a room the sender is alone in, so the ack is all the server sends back.
  if (opts.chat) await Promise.all(clients.map((c, i) => c.emitWithAck("join", `solo${i}`)));
  let measuring = false;
  let done = 0;
  let stop = false;
  const payload = { p: "x".repeat(opts.payload) };
  const loops = [];
  const per = Math.max(1, Math.floor(opts.inflight / clients.length));
  for (const [i, c] of clients.entries()) {
    const chatPayload = { message: payload.p, roomName: `solo${i}` };
    for (let k = 0; k < per; k++) {
      loops.push(
        (async () => {
          while (!stop) {
            const t = performance.now();
            if (opts.chat) await c.emitWithAck("message", chatPayload);
            else await c.emitWithAck("echo", payload);
            if (measuring) {
              done++;
              record(performance.now() - t);
            }
          }
        })(),
      );
    }
  }
  const { elapsed, loadgen_cpu, server_cpu } = await measureWindow((on) => (measuring = on));
  stop = true;
  for (const c of clients) c.close();
  return {
    round_trips_per_s: done / elapsed,
    p50_ms: percentile(0.5),
    p99_ms: percentile(0.99),
    loadgen_cpu,
    server_cpu,
  };
}

async function idle() {
  const rss0 = serverRss();
  const c0 = ownCpu();
  const s0 = serverCpu();
  const t0 = performance.now();
  const clients = await connectMany(opts.clients, () => {});
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = ownCpu();
  const s1 = serverCpu();
  // Let the server settle (buffers, allocator) before reading its memory; the clients stay connected.
  await sleep(opts.hold * 1000);
  const rss1 = serverRss();
  for (const c of clients) c.close();
  return {
    handshakes_per_s: opts.clients / elapsed,
    rss_per_conn_kib: (rss1 - rss0) / opts.clients / 1024,
    server_rss_mib: rss1 / 1048576,
    loadgen_cpu: (c1 - c0) / elapsed,
    server_cpu: (s1 - s0) / elapsed,
  };
}

// The realistic chat (with `chat: true`): `clients` users in rooms of `roomSize`, each sending one acked message
// every `interval` seconds (first sends spread over one interval); every other member of the room receives it.
// The message text starts with its send time in microseconds, so each delivery's latency is read off its bytes.
async function chat() {
  const n = opts.clients;
  const pad = "x".repeat(opts.payload);
  const roomOf = (i) => `room${Math.floor(i / opts.roomSize)}`;
  let measuring = false;
  let delivered = 0;
  let sent = 0;
  let offered = 0; // deliveries asked for in the measured window: the others in the sender's room
  let acked = 0;
  const clients = await connectMany(n, (_i, buf, start, end) => {
    const t = seqOf(buf, start, end);
    if (t < 0 || !measuring) return;
    delivered++;
    record(performance.now() - t / 1000);
  });
  let next = 0;
  async function joiner() {
    while (next < n) {
      const i = next++;
      await clients[i].emitWithAck("join", roomOf(i));
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, n) }, joiner));

  let stop = false;
  const timers = new Array(n);
  const countAck = () => {
    if (measuring) acked++;
  };
  for (let i = 0; i < n; i++) {
    const client = clients[i];
    const room = roomOf(i);
    const others = Math.min(opts.roomSize, n - Math.floor(i / opts.roomSize) * opts.roomSize) - 1;
    const send = () => {
      if (stop) return;
      if (measuring) {
        sent++;
        offered += others;
      }
      const t = Math.round(performance.now() * 1000);
      client.emitWithAck("message", { message: `${t} ${pad}`, roomName: room }).then(countAck);
    };
    timers[i] = setTimeout(() => {
      send();
      timers[i] = setInterval(send, opts.interval * 1000);
    }, Math.random() * opts.interval * 1000);
  }
  const { elapsed, loadgen_cpu, server_cpu } = await measureWindow((on) => (measuring = on));
  stop = true;
  for (const t of timers) clearInterval(t);
  const rss = serverRss();
  for (const c of clients) c.close();
  return {
    delivered_per_s: delivered / elapsed,
    offered_per_s: offered / elapsed,
    sent_per_s: sent / elapsed,
    acked_per_s: acked / elapsed,
    cpu_ms_per_1k: delivered ? (server_cpu * elapsed * 1e6) / delivered : null,
    p50_ms: percentile(0.5),
    p99_ms: percentile(0.99),
    server_rss_mib: rss / 1048576,
    loadgen_cpu,
    server_cpu,
  };
}

// A raw HTTP/1.1 keep-alive connection for polling handshakes: one request at a time, the answer parsed from the
// bytes (Content-Length or chunked), so that the generator spends far less per request than Node's http client.
function httpConnection() {
  return new Promise((resolve, reject) => {
    const sock = net.connect(opts.port, opts.host);
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let waiting = null;
    const request = Buffer.from(
      `GET ${opts.path}?EIO=4&transport=polling HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n\r\n`,
    );
    // One complete response at the start of buf: [status, body, bytes used], or null if more is needed.
    function parseResponse() {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return null;
      const head = buf.toString("latin1", 0, end).toLowerCase();
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
      if (length) {
        const total = end + 4 + Number(length[1]);
        return buf.length < total ? null : [status, buf.toString("utf8", end + 4, total), total];
      }
      if (!/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) throw new Error("response without a length");
      let pos = end + 4;
      let body = "";
      for (;;) {
        const line = buf.indexOf("\r\n", pos);
        if (line < 0) return null;
        const size = parseInt(buf.toString("latin1", pos, line), 16);
        if (buf.length < line + 2 + size + 2) return null;
        if (size === 0) return [status, body, line + 4];
        body += buf.toString("utf8", line + 2, line + 2 + size);
        pos = line + 2 + size + 2;
      }
    }
    sock.on("data", (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!waiting) return;
      let parsed;
      try {
        parsed = parseResponse();
      } catch (err) {
        waiting.reject(err);
        return;
      }
      if (!parsed) return;
      const [status, body, used] = parsed;
      buf = buf.subarray(used);
      const w = waiting;
      waiting = null;
      if (status === 200 && body[0] === "0") w.resolve();
      else w.reject(new Error(`polling handshake: ${status} ${body}`));
    });
    sock.on("error", (err) => (waiting ? waiting.reject(err) : reject(err)));
    sock.on("connect", () =>
      resolve({
        handshake() {
          return new Promise((res, rej) => {
            waiting = { resolve: res, reject: rej };
            sock.write(request);
          });
        },
        close() {
          sock.destroy();
        },
      }),
    );
  });
}

async function polling() {
  const n = opts.clients;
  let next = 0;
  const c0 = ownCpu();
  const s0 = serverCpu();
  const t0 = performance.now();
  async function worker() {
    const conn = await httpConnection();
    while (next < n) {
      next++;
      await conn.handshake();
    }
    conn.close();
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, n) }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  return {
    handshakes_per_s: n / elapsed,
    loadgen_cpu: (ownCpu() - c0) / elapsed,
    server_cpu: (serverCpu() - s0) / elapsed,
  };
}

const scenarios = { fanout, ack, idle, polling, chat };

scenarios[opts.scenario]()
  .then((result) => {
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(0);
  })
  .catch((err) => {
    process.stderr.write(`loadgen: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
