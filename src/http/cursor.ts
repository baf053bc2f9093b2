import { z } from "@hono/zod-openapi";
import { fromBase64Url, toBase64Url, utf8 } from "../lib/encoding";
import { ID_PATTERN } from "../lib/ids";

/** Where a newest-first page ends: the last item's creation time and id (ids break ties). */
export type KeysetCursor = { createdAt: Date; id: string };

/** The list cursor is opaque to clients: base64url of `<createdAt ms>.<id>` of the last item. */
export function encodeCursor(item: { createdAt: Date; id: string }): string {
  return toBase64Url(utf8(`${item.createdAt.getTime()}.${item.id}`));
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
  return { createdAt: new Date(Number(match[1])), id: match[2] };
}

/** `?limit=1..100` (default 20) and `?cursor=` (a `nextCursor`), as every paged list takes them. */
export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ example: 20 }),
  cursor: z
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
    .openapi({ type: "string", description: "`nextCursor` from the previous page." }),
});

export const NextCursorSchema = z
  .string()
  .nullable()
  .openapi({ description: "Pass as `cursor` for the next page; null on the last." });

/** The `nextCursor` of a page: the last item's, when there is more. */
export function nextCursor<T extends { createdAt: Date; id: string }>(items: T[], hasMore: boolean): string | null {
  const last = items.at(-1);
  return hasMore && last ? encodeCursor(last) : null;
}
