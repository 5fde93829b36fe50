// Reference Node engine.io 6 server for the differential tests.
// usage: node engine_server.js PORT [JSON options]; prints "ready" once listening.
// Every message is echoed back; a message "close" makes the server close the session, and "bye"
// makes it send "bye" and then close; "plain:TEXT" sends TEXT with compress false; "whoami" sends
// what the middleware read from the handshake's cookie ("none" without one).
// Options beyond engine.io's own: "middleware": true adds one (see below); "hooks": true sets
// initial_headers and headers handlers.
"use strict";
const path = require("path");
const http = require("http");
const ROOT = path.resolve(__dirname, "..", "..");
const engine = require(path.join(ROOT, "node_modules", "engine.io"));

const port = Number(process.argv[2]);
const options = Object.assign({ path: "/engine.io/" }, JSON.parse(process.argv[3] || "{}"));
if (options.allowRequestMessage !== undefined) {
  const message = options.allowRequestMessage;
  delete options.allowRequestMessage;
  options.allowRequest = (req, callback) => {
    if (req.headers["x-allow"] === "yes") callback(null, true);
    else callback(message, false);
  };
}
const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end("Not Found");
});
const middleware = options.middleware;
delete options.middleware;
const hooks = options.hooks;
delete options.hooks;
const server = engine.attach(httpServer, options);
if (middleware) {
  // x-refuse: answered 401 by the middleware; x-fail: the middleware fails; x-async: decided
  // after a tick; otherwise the "user" cookie is read onto the request.
  server.use((req, res, next) => {
    const decide = () => {
      if (req.headers["x-refuse"]) {
        res.writeHead(401, { "Content-Type": "text/plain" });
        res.end("refused: " + req.headers["x-refuse"]);
      } else if (req.headers["x-fail"]) {
        next(new Error("middleware failed"));
      } else {
        const match = /(?:^|; )user=([^;]*)/.exec(req.headers.cookie || "");
        req.user = match ? match[1] : "none";
        next();
      }
    };
    if (req.headers["x-async"]) setTimeout(decide, 1);
    else decide();
  });
}
if (hooks) {
  server.on("initial_headers", (headers, req) => {
    headers["X-Initial"] = req._query.transport;
  });
  server.on("headers", (headers, req) => {
    headers["X-Every"] = req.method;
    if (headers["cache-control"]) headers["cache-control"] = "private, no-store";
  });
}
server.on("connection", (socket) => {
  socket.on("message", (data) => {
    if (typeof data === "string" && data.startsWith("plain:")) socket.send(data.slice(6), { compress: false });
    else if (data === "whoami") socket.send(String(socket.request.user || "none"));
    else if (data === "close") socket.close();
    else if (data === "bye") {
      socket.send("bye");
      socket.close();
    }
    else socket.send(data);
  });
});
httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write("ready\n");
});
