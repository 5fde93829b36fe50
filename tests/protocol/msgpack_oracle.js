// Reference oracle for the msgpack parser's differential tests: socket.io-msgpack-parser 3.
// stdin: {"encode": [packet, ...], "decode": [hex, ...]}
// stdout: {"encode": [hex, ...], "decode": [{"ok": bool, "packet": {...}, "error": str}]}
// Packets are built with the keys in the order Node's socket.io server writes them (EVENT:
// type, data, id, nsp; ACK: id, type, data, nsp; others: type, data, nsp). Binary values travel
// as {"$bin": "<base64>"}, undefined as {"$undefined": true}, Dates as {"$date": ms}.
"use strict";
const { Encoder, Decoder } = require("socket.io-msgpack-parser");

const toNode = (value) => {
  if (Array.isArray(value)) return value.map(toNode);
  if (value !== null && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    if (value.$undefined === true) return undefined;
    if (typeof value.$date === "number") return new Date(value.$date);
    const out = {};
    for (const key of Object.keys(value)) out[key] = toNode(value[key]);
    return out;
  }
  return value;
};

const fromNode = (value) => {
  if (value === undefined) return { $undefined: true };
  if (value instanceof Date) return { $date: value.getTime() };
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(fromNode);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = fromNode(value[key]);
    return out;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return { $number: String(value) };
  return value;
};

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const encoder = new Encoder();
  const has = (packet, key) => packet[key] !== null && packet[key] !== undefined;
  const encoded = (request.encode || []).map((packet) => {
    const node = {};
    if (packet.type === 3 && has(packet, "id")) node.id = packet.id;
    node.type = packet.type;
    if (has(packet, "data")) node.data = toNode(packet.data);
    if (packet.type !== 3 && has(packet, "id")) node.id = packet.id;
    node.nsp = packet.nsp;
    const messages = encoder.encode(node);
    return messages.map((m) => Buffer.from(m).toString("hex"));
  });
  const decoded = (request.decode || []).map((hex) => {
    const decoder = new Decoder();
    let packet = null;
    decoder.on("decoded", (p) => (packet = p));
    try {
      decoder.add(Buffer.from(hex, "hex"));
      const out = { type: packet.type, nsp: packet.nsp };
      if (packet.data !== undefined) out.data = fromNode(packet.data);
      if (packet.id !== undefined) out.id = packet.id;
      return { ok: true, packet: out };
    } catch (error) {
      return { ok: false, error: String(error && error.message) };
    }
  });
  process.stdout.write(JSON.stringify({ encode: encoded, decode: decoded }));
});
