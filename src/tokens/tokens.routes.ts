import { createRoute } from "@hono/zod-openapi";
import { jsonResponse, outsideApiProblemResponses } from "../http/openapi";
import { createRouter } from "../http/router";
import { JWS_ALGORITHM } from "../lib/jws";
import type { SigningKeysService } from "./signing-keys.service";
import { DiscoverySchema, JwkSetSchema } from "./tokens.schemas";

const tags = ["Tokens"];
// How long verifiers may keep the key set; a new key is published an hour before it signs
// (KEY_TIMING.publishAheadMs), so every copy has it in time.
const JWKS_MAX_AGE_SECONDS = 300;
const CLAIMS = ["iss", "aud", "sub", "client_id", "sid", "role", "email_verified", "iat", "exp", "jti"];

const jwks = createRoute({
  operationId: "getJwks",
  security: [],
  method: "get",
  path: "/.well-known/jwks.json",
  tags,
  summary: "The keys that verify access tokens",
  description: `The JWK Set (RFC 7517). Cacheable for ${JWKS_MAX_AGE_SECONDS} s; keys rotate without downtime: a new key is listed an hour before it signs, an old one until every token it signed has expired.`,
  responses: { 200: jsonResponse(JwkSetSchema, "The public keys"), ...outsideApiProblemResponses() },
});

const discovery = createRoute({
  operationId: "getOpenIdConfiguration",
  security: [],
  method: "get",
  path: "/.well-known/openid-configuration",
  tags,
  summary: "Discovery: issuer and key location",
  description:
    "A subset of OpenID Connect discovery: the `issuer` access tokens carry, the `jwks_uri` of the keys that verify them, and the signing algorithm.",
  responses: { 200: jsonResponse(DiscoverySchema, "Issuer, JWKS URI, algorithms"), ...outsideApiProblemResponses() },
});

export const tokensRouter = createRouter<{ signingKeys: SigningKeysService }>()
  .openapi(jwks, async (c) => {
    const keys = await c.get("services").signingKeys.publicKeys();
    c.header("Cache-Control", `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    return c.json({ keys }, 200);
  })
  .openapi(discovery, (c) => {
    const issuer = c.get("config").tokenIssuer;
    c.header("Cache-Control", "public, max-age=3600");
    return c.json(
      {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        token_endpoint: `${issuer}/api/auth/token`,
        id_token_signing_alg_values_supported: [JWS_ALGORITHM],
        subject_types_supported: ["public"],
        claims_supported: CLAIMS,
      },
      200,
    );
  });
