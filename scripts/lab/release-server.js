#!/usr/bin/env node
// The lab's stand-in for the nats-server GitHub release downloads: a static file server for a directory laid out
// like `<base>/v<version>/nats-server-v<version>-linux-<arch>.tar.gz` and `<base>/v<version>/SHA256SUMS`.
// Plain Node.js, no dependencies. Started detached by scripts/lab.sh:
//   node release-server.js --lab NAME --root DIR --host IP --port PORT --pid-file FILE
// `--lab NAME` is only there so the process can be found by the lab's name (`pgrep -f "release-server.js --lab NAME "`).
"use strict";
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ["lab", "root", "host", "port", "pid-file"]) if (!out[key]) throw new Error(`missing --${key}`);
  return out;
}

const opts = args(process.argv.slice(2));
const root = path.resolve(opts.root);
const types = { ".gz": "application/gzip", "": "text/plain; charset=utf-8" };

const server = http.createServer((req, res) => {
  const started = Date.now();
  // Read now: once the client has gone, the socket's remoteAddress is undefined.
  const peer = req.socket.remoteAddress;
  // A response without a body is logged before it is sent, so the line is there once the client has its answer.
  const done = (status, size) => console.log(`${new Date().toISOString()} ${peer} ${req.method} ${req.url} ${status} ${size} ${Date.now() - started}ms`);
  if (req.method !== "GET" && req.method !== "HEAD") {
    done(405, 0);
    return res.writeHead(405, { allow: "GET, HEAD" }).end();
  }
  let rel;
  try {
    rel = decodeURIComponent(new URL(req.url ?? "/", "http://lab").pathname);
  } catch {
    done(400, 0);
    return res.writeHead(400).end();
  }
  const file = path.join(root, rel);
  // Only regular files below root; no directory listings, no symlinks out.
  if (!file.startsWith(root + path.sep) || rel.split("/").includes("..")) {
    done(404, 0);
    return res.writeHead(404).end("Not Found\n");
  }
  fs.lstat(file, (err, info) => {
    if (err || !info.isFile()) {
      done(404, 0);
      return res.writeHead(404, { "content-type": "text/plain" }).end("Not Found\n");
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream", "content-length": info.size });
    if (req.method === "HEAD") {
      done(200, 0);
      return res.end();
    }
    // Logged when the response closes, not at the file stream's end: a client that has every byte (it knows the
    // length) may close first, and then the file stream, unpiped, never ends; its download would go unlogged.
    const stream = fs.createReadStream(file);
    let sent = 0;
    stream.on("data", (chunk) => (sent += chunk.length));
    stream.on("error", () => res.destroy());
    res.on("close", () => {
      stream.destroy();
      done(200, sent === info.size ? sent : `${sent} of ${info.size} (the client left early)`);
    });
    stream.pipe(res);
  });
});

server.on("error", (error) => {
  console.error(`release server: ${error.message}`);
  process.exit(1);
});

server.listen(Number(opts.port), opts.host, () => {
  const tmp = `${opts["pid-file"]}.tmp`;
  fs.writeFileSync(tmp, `${process.pid}\n`);
  fs.renameSync(tmp, opts["pid-file"]);
  console.log(`release server for lab ${opts.lab}: http://${opts.host}:${opts.port}/ serving ${root} (pid ${process.pid})`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
