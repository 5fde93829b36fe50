// Reference oracle for the differential tests: socket.io-parser's Encoder and Decoder.
// stdin: {"encode": [packet, ...], "decode": [[message, ...], ...]}
// stdout: {"encode": [[message, ...], ...], "decode": [{"ok": bool, "packets": [...], "error": str}]}
// Binary values travel as {"$bin": "<base64>"} both ways.
"use strict";
const { Encoder, Decoder } = require("socket.io-parser");

const toNode = (value) => {
  if (Array.isArray(value)) return value.map(toNode);
  if (value !== null && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    const out = {};
    for (const key of Object.keys(value)) out[key] = toNode(value[key]);
    return out;
  }
  return value;
};

const fromNode = (value) => {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(fromNode);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = fromNode(value[key]);
    return out;
  }
  return value;
};

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const encoder = new Encoder();
  const encoded = (request.encode || []).map((packet) => {
    const node = { type: packet.type, nsp: packet.nsp };
    if (packet.data !== null && packet.data !== undefined) node.data = toNode(packet.data);
    if (packet.id !== null && packet.id !== undefined) node.id = packet.id;
    return encoder.encode(node).map(fromNode);
  });
  const decoded = (request.decode || []).map((messages) => {
    const decoder = new Decoder();
    const packets = [];
    decoder.on("decoded", (packet) => packets.push(fromNode(packet)));
    try {
      for (const message of messages) {
        decoder.add(typeof message === "string" ? message : toNode(message));
      }
      return { ok: true, packets, pending: Boolean(decoder.reconstructor) };
    } catch (error) {
      return { ok: false, packets, error: String(error && error.message) };
    }
  });
  process.stdout.write(JSON.stringify({ encode: encoded, decode: decoded }));
});
