import type { AppConfig } from "../config";
import { type Role, roles, type User } from "../db/schema";
import { toBase64Url } from "../lib/encoding";
import { UnauthorizedError } from "../lib/errors";
import { ID_PATTERN } from "../lib/ids";
import { readJwsHeader, signJws, verifyJws } from "../lib/jws";
import { KEY_TIMING, type SigningKeysService } from "./signing-keys.service";

/** The JWT header `typ` of an access token (RFC 9068 §2.1). */
const ACCESS_TOKEN_TYPE = "at+jwt";
/** RFC 9068's `client_id`: the first-party client every token of this service is issued to. */
const CLIENT_ID = "edge-users";

/** The claims of an access token (RFC 9068 §2.2, plus `sid`, `role` and `email_verified`). */
export type AccessTokenClaims = {
  iss: string;
  aud: string;
  sub: string;
  client_id: string;
  sid: string;
  role: Role;
  email_verified: boolean;
  iat: number;
  exp: number;
  jti: string;
};

export type IssuedAccessToken = { token: string; expiresAt: Date; expiresInSeconds: number };

export type AccessTokens = {
  /** A new access token for `user` in session `sessionId`. */
  issue(sessionId: string, user: Pick<User, "id" | "role" | "emailVerified">): Promise<IssuedAccessToken>;
  /**
   * The claims of a valid token; 401 for anything else: not ES256, not `at+jwt`, an unknown `kid`,
   * a bad signature, another issuer or audience, expired (past `exp` + 30 s) or issued in the future.
   */
  verify(token: string): Promise<AccessTokenClaims>;
};

/**
 * Tokens this isolate has already checked the signature of, by their whole text (a changed byte is
 * another key): a client sends the same token for minutes, and the ECDSA verification is most of
 * what an access-token request costs. Expiry, issuer and the key being still published are checked
 * on every use all the same.
 */
export type VerifiedTokens = {
  get(token: string): Record<string, unknown> | undefined;
  set(token: string, claims: Record<string, unknown>): void;
};

export type AccessTokensDeps = {
  keys: SigningKeysService;
  verified?: VerifiedTokens;
  config: Pick<AppConfig, "tokenIssuer" | "tokenAudience" | "accessTokenTtlSeconds">;
  now?: () => Date;
};

const INVALID = "The access token is invalid or expired.";

export function createAccessTokens({ keys, verified, config, now = () => new Date() }: AccessTokensDeps): AccessTokens {
  const refuse = () => new UnauthorizedError(INVALID, "invalid_token");

  return {
    async issue(sessionId, user) {
      const { kid, key } = await keys.signer();
      const iat = Math.floor(now().getTime() / 1000);
      const exp = iat + config.accessTokenTtlSeconds;
      const claims: AccessTokenClaims = {
        iss: config.tokenIssuer,
        aud: config.tokenAudience,
        sub: user.id,
        client_id: CLIENT_ID,
        sid: sessionId,
        role: user.role,
        email_verified: user.emailVerified,
        iat,
        exp,
        jti: toBase64Url(crypto.getRandomValues(new Uint8Array(16))),
      };
      const token = await signJws({ typ: ACCESS_TOKEN_TYPE, kid }, claims, key);
      return { token, expiresAt: new Date(exp * 1000), expiresInSeconds: config.accessTokenTtlSeconds };
    },

    async verify(token) {
      const header = readJwsHeader(token);
      const typ = header?.typ?.toLowerCase();
      if (!header?.kid || (typ !== ACCESS_TOKEN_TYPE && typ !== `application/${ACCESS_TOKEN_TYPE}`)) throw refuse();
      const key = await keys.verifier(header.kid);
      if (!key) throw refuse();
      const known = verified?.get(token);
      const claims = known ?? (await verifyJws(token, key));
      if (!claims || !isValid(claims, config, now().getTime())) throw refuse();
      if (!known) verified?.set(token, claims);
      return claims as AccessTokenClaims;
    },
  };
}

function isValid(
  claims: Record<string, unknown>,
  config: Pick<AppConfig, "tokenIssuer" | "tokenAudience">,
  nowMs: number,
): boolean {
  const { iss, aud, sub, sid, role, email_verified, iat, exp, jti } = claims;
  const leewaySeconds = KEY_TIMING.leewayMs / 1000;
  const nowSeconds = nowMs / 1000;
  const audiences = Array.isArray(aud) ? aud : [aud];
  return (
    iss === config.tokenIssuer &&
    audiences.includes(config.tokenAudience) &&
    typeof exp === "number" &&
    exp + leewaySeconds > nowSeconds &&
    typeof iat === "number" &&
    iat - leewaySeconds <= nowSeconds &&
    typeof sub === "string" &&
    ID_PATTERN.test(sub) &&
    typeof sid === "string" &&
    ID_PATTERN.test(sid) &&
    (roles as readonly unknown[]).includes(role) &&
    typeof email_verified === "boolean" &&
    typeof jti === "string"
  );
}
