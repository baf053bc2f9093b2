// The usual alternative to edge-users, for comparison: Express with better-sqlite3, serving the same
// public-profile read and user creation (scrypt N=2^14, r=8, p=5, as edge-users hashes) from one process.
// Usage: node bench/peer/express-sqlite.mjs <port>
import { randomBytes, randomUUID, scrypt } from "node:crypto";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import express from "express";

const derive = promisify(scrypt);
const db = new Database(":memory:");
db.exec(`create table users (
  id text primary key, email text not null unique, username text not null unique, name text not null,
  password_hash text not null, created_at integer not null)`);
const findUser = db.prepare("select id, username, name, created_at from users where id = ?");
const insertUser = db.prepare(
  "insert into users (id, email, username, name, password_hash, created_at) values (?, ?, ?, ?, ?, ?)",
);

const app = express();
app.disable("x-powered-by");
app.use(express.json({ limit: "64kb" }));

app.get("/api/users/:id", (req, res) => {
  const row = findUser.get(req.params.id);
  if (!row) return res.status(404).json({ title: "Not found" });
  res.json({ id: row.id, username: row.username, name: row.name, createdAt: new Date(row.created_at).toISOString() });
});

app.post("/api/users", async (req, res) => {
  const { email, username, name, password } = req.body ?? {};
  if (![email, username, name, password].every((value) => typeof value === "string")) {
    return res.status(400).json({ title: "Validation failed" });
  }
  const salt = randomBytes(16);
  const hash = await derive(password, salt, 32, { N: 2 ** 14, r: 8, p: 5, maxmem: 32 * 1024 * 1024 });
  const id = randomUUID();
  const createdAt = Date.now();
  try {
    insertUser.run(
      id,
      email.trim().toLowerCase(),
      username.toLowerCase(),
      name,
      `${salt.toString("base64url")}$${hash.toString("base64url")}`,
      createdAt,
    );
  } catch {
    return res.status(409).json({ title: "Conflict" });
  }
  res
    .status(201)
    .location(`/api/users/${id}`)
    .json({ id, email, username, name, createdAt: new Date(createdAt).toISOString() });
});

app.get("/health", (_req, res) => res.json({ status: "ok" }));

const server = app.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`ready ${server.address().port} node ${process.version}`);
});
