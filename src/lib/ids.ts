import { uuidv7 } from "uuidv7";

/** Opaque, URL-safe ids that sort by creation time (UUIDv7, RFC 9562). */
export function newId(): string {
  return uuidv7();
}

export const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
