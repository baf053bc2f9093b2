import { z } from "@hono/zod-openapi";

const JwkSchema = z
  .object({
    kty: z.literal("EC"),
    crv: z.literal("P-256"),
    x: z.string(),
    y: z.string(),
    kid: z.string(),
    alg: z.literal("ES256"),
    use: z.literal("sig"),
  })
  .openapi("Jwk", { description: "A public P-256 key (RFC 7517). Never a private member." });

export const JwkSetSchema = z
  .object({ keys: z.array(JwkSchema) })
  .openapi("JwkSet", { description: "Every key that may have signed a token that is still valid, and the next one." });

export const DiscoverySchema = z
  .object({
    issuer: z.string(),
    jwks_uri: z.string(),
    token_endpoint: z.string(),
    id_token_signing_alg_values_supported: z.array(z.string()),
    subject_types_supported: z.array(z.string()),
    claims_supported: z.array(z.string()),
  })
  .openapi("OpenIdConfiguration", { description: "An OpenID Connect discovery subset: where the keys are." });
