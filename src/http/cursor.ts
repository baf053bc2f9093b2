import { z } from "@hono/zod-openapi";
import { fromBase64Url, toBase64Url, utf8 } from "../lib/encoding";
import { ID_PATTERN } from "../lib/ids";

/** Where a newest-first page ended: the last item's time and id (the keyset every list pages on). */
export type KeysetCursor = { at: Date; id: string };

/** The cursor is opaque to clients: base64url of `<ms>.<id>` of the last item. */
export function encodeCursor(at: Date, id: string): string {
  return toBase64Url(utf8(`${at.getTime()}.${id}`));
}

function decodeCursor(cursor: string): KeysetCursor | null {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64Url(cursor));
  } catch {
    return null;
  }
  const match = /^(\d{1,15})\.(.+)$/.exec(text);
  if (!match?.[1] || !match[2] || !ID_PATTERN.test(match[2])) return null;
  return { at: new Date(Number(match[1])), id: match[2] };
}

/** The `cursor` query parameter: `nextCursor` of the previous page, decoded; a bad one is a 400. */
export const CursorQuerySchema = z
  .string()
  .max(200)
  .transform((value, ctx) => {
    const decoded = decodeCursor(value);
    if (!decoded) {
      ctx.addIssue({ code: "custom", message: "Invalid cursor" });
      return z.NEVER;
    }
    return decoded;
  })
  .optional()
  .openapi({ type: "string", description: "`nextCursor` from the previous page." });

/** The `limit` query parameter of every paged list. */
export const LimitQuerySchema = z.coerce.number().int().min(1).max(100).default(20).openapi({ example: 20 });

/** `?limit=` and `?cursor=`, as a list that takes no other filter. */
export const PageQuerySchema = z.object({ limit: LimitQuerySchema, cursor: CursorQuerySchema });

export const NextCursorSchema = z
  .string()
  .nullable()
  .openapi({ description: "Pass as `cursor` for the next page; null on the last." });

/** The `nextCursor` of a page of rows keyed by creation time: the last row's, when there is more. */
export function nextCursor(items: readonly { createdAt: Date; id: string }[], hasMore: boolean): string | null {
  const last = items.at(-1);
  return hasMore && last ? encodeCursor(last.createdAt, last.id) : null;
}
