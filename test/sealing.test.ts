import { describe, expect, it } from "vitest";
import { createSealer } from "../src/lib/sealing";

const OLD = "an old application secret of enough length";
const NEW = "a new application secret, also long enough!";

describe("sealing under APP_SECRET, with APP_SECRET_PREVIOUS still opening", () => {
  it("opens what the current secret sealed, in its own context and purpose only", async () => {
    const sealer = createSealer({ current: NEW }, "mail-queue");
    const sealed = await sealer.seal("the link", "message-1");
    expect(sealed).not.toContain("the link");
    expect(await sealer.open(sealed, "message-1")).toEqual({ plaintext: "the link", stale: false });
    expect(await sealer.open(sealed, "message-2")).toBeNull();
    expect(await createSealer({ current: NEW }, "signing-keys").open(sealed, "message-1")).toBeNull();
  });

  it("opens what the previous secret sealed, marked stale; without the previous secret, nothing", async () => {
    const sealed = await createSealer({ current: OLD }, "signing-keys").seal("private", "kid");
    const rotated = createSealer({ current: NEW, previous: OLD }, "signing-keys");
    expect(await rotated.open(sealed, "kid")).toEqual({ plaintext: "private", stale: true });
    expect(await createSealer({ current: NEW }, "signing-keys").open(sealed, "kid")).toBeNull();
    const resealed = await rotated.seal("private", "kid");
    expect(await createSealer({ current: NEW }, "signing-keys").open(resealed, "kid")).toEqual({
      plaintext: "private",
      stale: false,
    });
  });

  it("a tampered or malformed value opens under neither secret", async () => {
    const sealer = createSealer({ current: NEW, previous: OLD }, "mail-queue");
    const sealed = await sealer.seal("x", "c");
    // One character of the ciphertext changed (not the last, whose low bits may be padding).
    const at = sealed.length - 2;
    const flipped = `${sealed.slice(0, at)}${sealed[at] === "A" ? "B" : "A"}${sealed.slice(at + 1)}`;
    expect(flipped).not.toBe(sealed);
    expect(await sealer.open(flipped, "c")).toBeNull();
    expect(await sealer.open("not base64url!", "c")).toBeNull();
  });
});
