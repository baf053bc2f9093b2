import { z } from "@hono/zod-openapi";
import { roles, statuses, type User } from "../db/schema";
import { contentTag, representationHeaders, type View, versionTag } from "../http/conditional";
import {
  CursorQuerySchema,
  encodeCursor as encodeKeysetCursor,
  LimitQuerySchema,
  NextCursorSchema,
} from "../http/cursor";

// Wire formats, written by hand and kept apart from the table definitions (STYLE.md, habit 2).

// Display names: controls and lone surrogates are refused, and so are the format and default-
// ignorable characters that reorder, hide or fake text (bidi overrides and isolates, zero-width
// spaces, word joiners, soft hyphens, byte-order marks, Hangul fillers, tag characters). Kept: the
// zero-width (non-)joiners and variation selectors that emoji and Arabic, Persian and Indic
// names need.
const DISGUISING_CHARACTER =
  /[\p{Cc}\p{Cs}]|(?!\u200C|\u200D|[\uFE00-\uFE0F]|[\u{E0100}-\u{E01EF}])[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
// A letter, digit, punctuation mark or symbol that shows (not a blank such as U+2800).
const VISIBLE_CHARACTER = /(?![\p{Default_Ignorable_Code_Point}\u2800])[\p{L}\p{N}\p{P}\p{S}]/u;
// The same refusal for the OpenAPI document, as a plain ECMA-262 pattern (BMP escapes, no
// property classes, valid with and without the u flag) that generated clients can apply.
const DISPLAY_NAME_PATTERN =
  "^[^\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5\\u180B-\\u180F\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u206F\\u3164\\uFEFF\\uFFA0\\uFFF0-\\uFFF8]*$";

export const EmailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: "Invalid email" }))
  .openapi({ example: "ann@example.com", description: "Trimmed and lower-cased before it is stored or compared." });

/** The username rule in words, for messages and for the CLIs' help (one wording, one rule). */
export const USERNAME_RULE = "3 to 32 characters: letters, digits and underscore (stored lower-case)";

export const UsernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9_]{3,32}$/, USERNAME_RULE)
  .openapi({ example: "ann", description: "`^[a-z0-9_]{3,32}$`, stored lower-case." });

export const DisplayNameSchema = z
  .string()
  .normalize("NFC")
  .trim()
  .min(1)
  .max(100)
  .refine((name) => !DISGUISING_CHARACTER.test(name), "Must not contain control, format or bidirectional characters")
  .refine((name) => VISIBLE_CHARACTER.test(name), "Must contain a visible character")
  .openapi({
    example: "Ann Lee",
    pattern: DISPLAY_NAME_PATTERN,
    description:
      "1 to 100 characters after Unicode NFC normalisation and trimming, at least one of them visible (a letter, digit, punctuation mark or symbol). Refused: control characters, lone surrogates, and format or default-ignorable characters that can disguise a name (bidirectional overrides and isolates, zero-width spaces, word joiners, soft hyphens, byte-order marks, Hangul fillers, tag characters); zero-width joiners and non-joiners and variation selectors are allowed.",
  });

/** NIST SP 800-63B: length over composition rules; the upper bound keeps hashing cost bounded. */
export const PasswordSchema = z
  .string()
  .min(12, "At least 12 characters")
  .max(256, "At most 256 characters")
  .openapi({ example: "correct horse battery staple", format: "password" });

const RoleSchema = z.enum(roles).openapi({ description: "`admin` or `member`." });
const StatusSchema = z
  .enum(statuses)
  .openapi({ description: "A disabled user cannot log in; its sessions stop working." });

export const UserIdParamsSchema = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61" }),
});

export const UserSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    username: z.string(),
    name: z.string(),
    role: RoleSchema,
    status: StatusSchema,
    emailVerified: z.boolean().openapi({
      description: "The owner followed a link sent to this email; a change of email clears it.",
    }),
    createdAt: z.string().openapi({ format: "date-time" }),
    updatedAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("User", { description: "A user as its owner or an admin sees it." });

export const PublicProfileSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    name: z.string(),
    createdAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("PublicProfile", { description: "A user as anyone else sees it." });

export const UserViewSchema = z.union([UserSchema, PublicProfileSchema]);

export const CreateUserBodySchema = z
  .strictObject({
    email: EmailSchema,
    username: UsernameSchema,
    name: DisplayNameSchema,
    password: PasswordSchema,
    role: RoleSchema.optional().openapi({ description: "Admins only." }),
    status: StatusSchema.optional().openapi({ description: "Admins only." }),
  })
  .openapi("CreateUser");

export const UpdateUserBodySchema = z
  .strictObject({
    email: EmailSchema.optional(),
    username: UsernameSchema.optional(),
    name: DisplayNameSchema.optional(),
    password: PasswordSchema.optional(),
    currentPassword: z
      .string()
      .max(256)
      .optional()
      .openapi({ description: "Required when users change their own password or email.", format: "password" }),
    role: RoleSchema.optional().openapi({ description: "Admins only." }),
    status: StatusSchema.optional().openapi({ description: "Admins only." }),
  })
  // `when`: judge the body as a whole only once its fields are valid, so errors are not doubled.
  .refine((body) => body.currentPassword === undefined || body.password !== undefined || body.email !== undefined, {
    message: "currentPassword is only accepted together with password or email",
    path: ["currentPassword"],
    when: (payload) => payload.issues.length === 0,
  })
  .refine((body) => Object.keys(body).some((key) => key !== "currentPassword"), {
    message: "Send at least one field to change",
    when: (payload) => payload.issues.length === 0,
  })
  .openapi("UpdateUser");

export type CreateUserInput = z.infer<typeof CreateUserBodySchema>;
export type UpdateUserInput = z.infer<typeof UpdateUserBodySchema>;

/** The list cursor is opaque to clients: base64url of `<createdAt ms>.<id>` of the last item. */
export function encodeCursor(user: Pick<User, "createdAt" | "id">): string {
  return encodeKeysetCursor(user.createdAt, user.id);
}

export const ListUsersQuerySchema = z.object({
  limit: LimitQuerySchema,
  cursor: CursorQuerySchema,
  role: RoleSchema.optional(),
  status: StatusSchema.optional(),
  q: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .optional()
    .openapi({ description: "Case-insensitive prefix of email, username or name." }),
});

export const UserListSchema = z
  .object({
    data: z.array(UserSchema),
    nextCursor: NextCursorSchema,
  })
  .openapi("UserList");

export type UserView = z.infer<typeof UserSchema>;
export type PublicProfileView = z.infer<typeof PublicProfileSchema>;

export function toUserView(user: User): UserView {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    name: user.name,
    role: user.role,
    status: user.status,
    emailVerified: user.emailVerified,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

export function toPublicProfileView(user: User): PublicProfileView {
  return { id: user.id, username: user.username, name: user.name, createdAt: user.createdAt.toISOString() };
}

/**
 * The validator and caching headers of a view of a user: the full view is tagged with the row's
 * version, the public profile with a hash of the fields toPublicProfileView shows.
 */
export function userRepresentationHeaders(user: User, view: View, publicMaxAgeSeconds: number) {
  const tag =
    view === "full"
      ? versionTag(user.version)
      : contentTag([user.id, user.username, user.name, user.createdAt.getTime()]);
  return representationHeaders(tag, view, publicMaxAgeSeconds);
}
