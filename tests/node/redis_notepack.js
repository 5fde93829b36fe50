// notepack.io (the msgpack of @socket.io/redis-adapter) for the Python codec's differential test.
// stdin: one JSON line {"decode": [hex, ...]}; stdout: {"encoded": {name: hex}, "decoded": [...]}
// where "encoded" holds JS samples as notepack writes them and "decoded" what notepack reads from
// each given message (Buffers as {"$bin": base64}, undefined as {"$undefined": true}).
"use strict";

const path = require("path");
const modules = process.env.NODE_MODULES || "node_modules";
const notepack = require(path.join(modules, "notepack.io"));

const samples = {
  buffer: Buffer.from([0, 1, 255]),
  arraybuffer: new Uint8Array([1, 2]).buffer,
  typedarray: new Uint16Array([1]),
  undefinedInArray: [1, undefined, 2],
  undefinedInMap: { a: 1, b: undefined },
  functionInMap: { a: 1, f: () => 1 },
  float: 1.5,
  integralNumber: 3.0,
  negative: -33,
  big: 2 ** 40,
  negativeBig: -(2 ** 40),
  date: new Date(Date.UTC(2024, 0, 31, 12, 0, 0, 123)),
  longString: "é".repeat(40),
  broadcast: [
    "abcdef",
    { type: 2, data: ["event", Buffer.from([7]), { nested: [null, true] }], nsp: "/chat" },
    { rooms: ["r1"], except: ["x"], flags: { volatile: true } },
  ],
};

function toJson(value) {
  if (value === undefined) return { $undefined: true };
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJson(v);
    return out;
  }
  return value;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const encoded = {};
  for (const [name, value] of Object.entries(samples)) encoded[name] = notepack.encode(value).toString("hex");
  const decoded = request.decode.map((hex) => toJson(notepack.decode(Buffer.from(hex, "hex"))));
  process.stdout.write(JSON.stringify({ encoded, decoded }) + "\n");
});
