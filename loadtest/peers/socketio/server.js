// Socket.IO peer for the Boardroom load generator (see loadtest/README or BENCHMARKS.md).
//
// Rooms are boards. A client `join`s a room (with an ack) to subscribe, and `pub`lishes a
// payload to a room; the payload is broadcast, as the event `msg`, to every socket in the
// room. Written the way the Socket.IO documentation shows (io.to(room).emit encodes the
// packet once and writes it to every socket of the room).
//
//   node server.js --port 9002 [--redis redis://127.0.0.1:6379]
//
// With --redis (or REDIS_URL) the official @socket.io/redis-adapter carries broadcasts
// between several such processes (the multi-node case).
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(arg("--port", process.env.PORT || 9002));
const host = arg("--host", "127.0.0.1");
const redisUrl = arg("--redis", process.env.REDIS_URL || "");

const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  // WebSocket only, as the load generator connects (`EIO=4&transport=websocket`).
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
  // Like Boardroom's limits: frames up to 64 KiB.
  maxHttpBufferSize: 65536,
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(String(room));
    if (typeof ack === "function") ack();
  });
  socket.on("pub", (room, payload) => {
    io.to(String(room)).emit("msg", payload);
  });
});

async function main() {
  if (redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: redisUrl });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  httpServer.listen(port, host, () => {
    const a = httpServer.address();
    console.error(
      `socket.io peer listening on ${a.address}:${a.port}${redisUrl ? " (redis adapter " + redisUrl + ")" : ""}`
    );
  });
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
